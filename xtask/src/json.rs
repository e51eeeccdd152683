//! Just enough JSON to read cargo's `--message-format=json` lines: one value per line, read
//! into a tree. (xtask has no serde; a reader of 100 lines keeps its build fast.)

use anyhow::{Result, bail};

#[derive(Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Numbers are kept as written: cargo's messages need none of them.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json> {
        let mut reader = Reader { bytes: text.as_bytes(), at: 0 };
        let value = reader.value()?;
        reader.space();
        if reader.at != reader.bytes.len() {
            bail!("trailing characters after JSON value at byte {}", reader.at);
        }
        Ok(value)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            _ => &[],
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn space(&mut self) {
        while self.bytes.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.space();
        if self.bytes.get(self.at) != Some(&byte) {
            bail!("expected {:?} at byte {} of a JSON value", byte as char, self.at);
        }
        self.at += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json> {
        if !self.bytes[self.at..].starts_with(word.as_bytes()) {
            bail!("unexpected characters at byte {} of a JSON value", self.at);
        }
        self.at += word.len();
        Ok(value)
    }

    fn value(&mut self) -> Result<Json> {
        self.space();
        match self.bytes.get(self.at) {
            None => bail!("unexpected end of a JSON value"),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => bail!("expected ',' or ']' at byte {} of a JSON value", self.at),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    self.expect(b':')?;
                    members.push((key, self.value()?));
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => bail!("expected ',' or '}}' at byte {} of a JSON value", self.at),
                    }
                }
            }
            Some(_) => {
                let start = self.at;
                while self.bytes.get(self.at).is_some_and(|b| b"+-.0123456789eE".contains(b)) {
                    self.at += 1;
                }
                if start == self.at {
                    bail!("unexpected character at byte {} of a JSON value", self.at);
                }
                Ok(Json::Number(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned()))
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else { bail!("unterminated JSON string") };
            self.at += 1;
            match byte {
                b'"' => return Ok(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.at) else { bail!("unterminated JSON string") };
                    self.at += 1;
                    let simple = match escape {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => bail!("bad escape in a JSON string at byte {}", self.at),
                    };
                    let c = match simple {
                        Some(c) => c,
                        None => {
                            let first = self.hex4()?;
                            if (0xD800..0xDC00).contains(&first) && self.bytes[self.at..].starts_with(b"\\u")
                            {
                                self.at += 2;
                                let second = self.hex4()?;
                                let code = 0x10000
                                    + ((first - 0xD800) << 10)
                                    + (second.wrapping_sub(0xDC00) & 0x3FF);
                                char::from_u32(code).unwrap_or('\u{FFFD}')
                            } else {
                                char::from_u32(first).unwrap_or('\u{FFFD}')
                            }
                        }
                    };
                    let mut buffer = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
                _ => out.push(byte),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes.get(self.at..self.at + 4).unwrap_or_default();
        let text = std::str::from_utf8(digits).unwrap_or("");
        let Ok(value) = u32::from_str_radix(text, 16) else { bail!("bad \\u escape in a JSON string") };
        if text.len() != 4 {
            bail!("bad \\u escape in a JSON string");
        }
        self.at += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cargo_artifact_message_is_read() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"ch01_process","test":true},
            "profile":{"opt_level":"0","debuginfo":null},"executable":"/w/target/debug/deps/ch01_process-1\u00e9\"x","fresh":true}"#;
        let json = Json::parse(line).unwrap();
        assert_eq!(json.get("reason").and_then(Json::as_str), Some("compiler-artifact"));
        let target = json.get("target").unwrap();
        assert_eq!(target.get("kind").unwrap().as_array()[0].as_str(), Some("test"));
        assert_eq!(
            json.get("executable").and_then(Json::as_str),
            Some("/w/target/debug/deps/ch01_process-1é\"x")
        );
        assert_eq!(json.get("fresh"), Some(&Json::Bool(true)));
        assert!(Json::parse("{\"a\":1} x").is_err());
        assert!(Json::parse("[1, 2,]").is_err());
    }
}
