//! The `tcp` proto's framing: a 4-byte big-endian length, then that many bytes.
//!
//! [`encode`] makes a frame; [`decode`] finds the first whole frame in a buffer;
//! [`FrameReader`] reads frames from a socket, cancel-safe (its state lives in its buffer), so it
//! can sit in a `select!`.

use std::ops::Range;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The length prefix, in bytes.
pub const PREFIX: usize = 4;

/// The largest payload accepted, in bytes: 16 MiB.
pub const MAX_FRAME: usize = 16 << 20;

/// How much room a read asks for at least, in bytes.
const READ_CHUNK: usize = 4096;

/// Why a frame could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A length over [`MAX_FRAME`].
    #[error("a frame of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The length announced (or asked for).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("the connection ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// The bytes of the unfinished frame.
        buffered: usize,
    },
    /// The socket failed.
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// `payload` with its length prefix.
pub fn encode(payload: &[u8]) -> Result<Vec<u8>, CodecError> {
    if payload.len() > MAX_FRAME {
        return Err(CodecError::TooLarge {
            len: payload.len(),
            max: MAX_FRAME,
        });
    }
    let mut frame = Vec::with_capacity(PREFIX + payload.len());
    // Fits: MAX_FRAME < u32::MAX.
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// The first whole frame in `buf`: how many bytes it takes and where its payload is. `None`
/// while it is incomplete; an error as soon as the prefix announces more than `max`.
pub fn decode(buf: &[u8], max: usize) -> Result<Option<(usize, Range<usize>)>, CodecError> {
    let Some(prefix) = buf.get(..PREFIX) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len > max {
        return Err(CodecError::TooLarge { len, max });
    }
    let total = PREFIX + len;
    Ok((buf.len() >= total).then_some((total, PREFIX..total)))
}

/// Reads length-prefixed frames from `R`.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// The bytes of the frame returned last, dropped on the next call.
    consumed: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            consumed: 0,
        }
    }

    /// The next frame's payload; `None` when the stream ends between two frames. Cancel-safe.
    pub async fn next_frame(&mut self) -> Result<Option<&[u8]>, CodecError> {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        loop {
            if let Some((total, payload)) = decode(&self.buf, MAX_FRAME)? {
                self.consumed = total;
                return Ok(Some(&self.buf[payload]));
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK {
                self.buf.reserve(READ_CHUNK);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.len() {
                    0 => Ok(None),
                    buffered => Err(CodecError::Truncated { buffered }),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    /// A reader that hands out one byte per read, to split every frame everywhere.
    struct OneByte<'a>(&'a [u8]);

    impl AsyncRead for OneByte<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some((first, rest)) = self.0.split_first() {
                buf.put_slice(&[*first]);
                self.0 = rest;
            }
            Poll::Ready(Ok(()))
        }
    }

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        payloads.iter().flat_map(|p| encode(p).unwrap()).collect()
    }

    #[test]
    fn encode_prefixes_the_big_endian_length() {
        assert_eq!(encode(b"abc").unwrap(), [0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(encode(b"").unwrap(), [0, 0, 0, 0]);
        let big = vec![7u8; 0x0102];
        assert_eq!(encode(&big).unwrap()[..PREFIX], [0, 0, 1, 2]);
    }

    #[test]
    fn decode_waits_for_the_whole_frame_and_leaves_the_rest() {
        let buf = frames(&[b"hello", b"x"]);
        for cut in 0..PREFIX + 5 {
            assert!(decode(&buf[..cut], MAX_FRAME).unwrap().is_none(), "{cut}");
        }
        let (total, payload) = decode(&buf, MAX_FRAME).unwrap().unwrap();
        assert_eq!((total, &buf[payload]), (9, &b"hello"[..]));
        let (total, payload) = decode(&buf[9..], MAX_FRAME).unwrap().unwrap();
        assert_eq!((total, &buf[9..][payload]), (5, &b"x"[..]));
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_its_payload() {
        let err = decode(&[0, 0, 0, 11], 10).unwrap_err();
        assert!(
            matches!(err, CodecError::TooLarge { len: 11, max: 10 }),
            "{err}"
        );
        assert!(decode(&[0, 0, 0, 10], 10).unwrap().is_none());
    }

    #[tokio::test]
    async fn the_reader_returns_each_frame_however_the_bytes_arrive() {
        let payloads: [&[u8]; 4] = [b"one", b"", &[0xff; 5000], b"last"];
        let bytes = frames(&payloads);
        for whole in [true, false] {
            let mut got = Vec::new();
            if whole {
                let mut reader = FrameReader::new(&bytes[..]);
                while let Some(frame) = reader.next_frame().await.unwrap() {
                    got.push(frame.to_vec());
                }
            } else {
                let mut reader = FrameReader::new(OneByte(&bytes));
                while let Some(frame) = reader.next_frame().await.unwrap() {
                    got.push(frame.to_vec());
                }
            }
            assert_eq!(got, payloads.map(<[u8]>::to_vec), "whole reads: {whole}");
        }
    }

    #[tokio::test]
    async fn a_stream_that_ends_inside_a_frame_is_an_error() {
        let mut bytes = frames(&[b"complete"]);
        bytes.extend_from_slice(&[0, 0, 0, 10, b'p', b'a']);
        let mut reader = FrameReader::new(&bytes[..]);
        assert_eq!(reader.next_frame().await.unwrap().unwrap(), b"complete");
        let err = reader.next_frame().await.unwrap_err();
        assert!(
            matches!(err, CodecError::Truncated { buffered: 6 }),
            "{err}"
        );
        // A cut inside the prefix too.
        let mut reader = FrameReader::new(&[0u8, 0][..]);
        let err = reader.next_frame().await.unwrap_err();
        assert!(
            matches!(err, CodecError::Truncated { buffered: 2 }),
            "{err}"
        );
    }
}
