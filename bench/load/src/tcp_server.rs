//! `tcp-echo-server`: the other end of the `tcp` proto. It copies every byte it reads back to
//! its sender, so length-prefixed frames come back whole: the ceiling of this machine for
//! a request/answer over loopback, with no WebSocket and no JSON.

use tokio::net::{TcpListener, TcpStream};

use crate::error::LoadError;

/// Listens on `127.0.0.1:port` (0: any free port).
pub async fn bind(port: u16) -> Result<TcpListener, LoadError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(LoadError::io("bind"))
}

/// Serves every connection until the process ends. An accept that fails (out of file
/// descriptors) is told on stderr and retried after 100 ms.
pub async fn serve(listener: TcpListener) -> Result<(), LoadError> {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(echo(tcp));
            }
            Err(e) => {
                eprintln!("accept failed: {e}; retrying in 100 ms");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Copies what `tcp` sends back to it until it closes.
async fn echo(mut tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let (mut read, mut write) = tcp.split();
    let _ = tokio::io::copy(&mut read, &mut write).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::codec::{encode, FrameReader};

    #[tokio::test]
    async fn frames_come_back_whole_and_in_order() {
        let listener = bind(0).await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        let server = tokio::spawn(serve(listener));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = tcp.into_split();
        let payloads = [b"first".to_vec(), vec![], vec![9u8; 100_000]];
        for p in &payloads {
            write.write_all(&encode(p).unwrap()).await.unwrap();
        }
        let mut reader = FrameReader::new(read);
        for p in &payloads {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader.next_frame())
                .await
                .expect("an answer in time")
                .unwrap()
                .expect("a frame");
            assert_eq!(got, &p[..]);
        }
        drop(write);
        assert!(
            reader.next_frame().await.unwrap().is_none(),
            "closed after ours"
        );
        server.abort();
    }
}
