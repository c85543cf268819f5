//! [`Token`]: an API key or access token, which never shows in logs or `Debug` output.
//!
//! A client proves who it is to a production server with a token: in the `hello` frame, in
//! `Sec-WebSocket-Protocol: semantest.v1, bearer.<token>`, or in `Authorization: Bearer <token>`.
//! Because it sits in the header and subprotocol list, a token is limited to the characters
//! that may appear there: letters, digits and `-._~`, [`Token::MIN_LEN`] to [`Token::MAX_LEN`] long.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret that `{:?}` prints as `Token(<redacted>)`.
///
/// Deserializing checks the token like [`Token::new`], so a malformed one is refused where it
/// is read, with the reason.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Token(String);

/// Why a string cannot be a [`Token`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Shorter than [`Token::MIN_LEN`] or longer than [`Token::MAX_LEN`].
    #[error("a token must be {min} to {max} characters long (this one has {0})", min = Token::MIN_LEN, max = Token::MAX_LEN)]
    Length(usize),
    /// A character outside letters, digits and `-._~`.
    #[error("a token may only hold letters, digits and '-', '.', '_', '~'")]
    Character,
}

impl Token {
    /// The shortest token accepted: 16 characters, so a key cannot be guessed by trying.
    pub const MIN_LEN: usize = 16;
    /// The longest token accepted.
    pub const MAX_LEN: usize = 256;

    /// Checks the length and characters (see the module doc).
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        let token = token.into();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&token.len()) {
            return Err(TokenError::Length(token.chars().count()));
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(TokenError::Character);
        }
        Ok(Token(token))
    }

    /// Reads the JSON string `value` (the field `field`) as a token, checked like [`Token::new`].
    pub fn read(
        field: &'static str,
        value: serde_json::Value,
    ) -> Result<Self, crate::json::ReadError> {
        Token::new(crate::json::string(field, value)?).map_err(|e| {
            crate::json::ReadError::Invalid {
                field,
                reason: e.to_string(),
            }
        })
    }

    /// The secret itself, to send or to compare (in constant time).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl TryFrom<String> for Token {
    type Error = TokenError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Token::new(s)
    }
}

impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

impl std::str::FromStr for Token {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Token::new(s.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let t = Token::new("abcdefghij-KLMNOP_0123.~").unwrap();
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(t.expose(), "abcdefghij-KLMNOP_0123.~");
        assert_eq!(Token::new("short"), Err(TokenError::Length(5)));
        assert_eq!(
            Token::new("a".repeat(16) + " space"),
            Err(TokenError::Character)
        );
        assert_eq!(Token::new("a".repeat(16) + ","), Err(TokenError::Character));
        assert!(Token::new("x".repeat(257)).is_err());
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#""abcdefghij-KLMNOP_0123.~""#);
        assert_eq!(serde_json::from_str::<Token>(&json).unwrap(), t);
        let err = serde_json::from_str::<Token>(r#""short""#).unwrap_err();
        assert!(err.to_string().contains("16 to 256"), "{err}");
    }
}
