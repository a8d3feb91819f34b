//! The header of a `.npy` file: a Python dict literal, parsed byte by byte (never by substring search).
//!
//! numpy writes, and `numpy.lib.format` accepts, exactly three keys: `'descr'` (a dtype string),
//! `'fortran_order'` (`True` / `False`) and `'shape'` (a tuple of non-negative ints), in any order. The
//! grammar we accept is that subset of Python's literal syntax:
//!
//! ```text
//! header := ws '{' ws [ item (ws ',' ws item)* [ws ','] ] ws '}' ws
//! item   := string ws ':' ws value
//! value  := string | 'True' | 'False' | tuple
//! tuple  := '(' ws ')' | '(' ws int ws ',' ws ')' | '(' ws int (ws ',' ws int)+ [ws ','] ws ')'
//! string := "'" chars "'" | '"' chars '"'        (no backslash escapes, no prefixes)
//! int    := digit ( ['_'] digit )* ['L' | 'l']   (the 'L' of Python 2 longs, as numpy also accepts)
//! ws     := ( ' ' | '\t' | '\n' | '\r' | '\x0c' )*
//! ```
//!
//! Deviations, all refusals with a reason: a key that is not one of the three (numpy refuses those too),
//! a key given twice (Python would silently keep the last), `(5)` (an int in Python, not a tuple),
//! structured dtypes (a list as `descr`), comments and escapes. Strings are kept as bytes: version 1.0
//! and 2.0 headers are latin-1, 3.0 headers UTF-8, and a dtype we accept is ASCII either way.

/// Most dimensions a shape may have (numpy 2's own limit).
pub(crate) const MAX_NDIM: usize = 64;

/// The three fields of a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    pub descr: Vec<u8>,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

#[derive(Debug)]
enum Value {
    Str(Vec<u8>),
    Bool(bool),
    Tuple(Vec<u64>),
    /// `(5)`: a parenthesised int.
    Int(u64),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Bool(_) => "a bool",
            Value::Tuple(_) => "a tuple",
            Value::Int(_) => "an int",
        }
    }
}

/// Shows header bytes in messages: text as text, anything else escaped, long runs cut.
pub(crate) fn show(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let s: String = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)])
        .escape_debug()
        .collect();
    if bytes.len() > MAX {
        format!("{s}...")
    } else {
        s
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') = self.peek() {
            self.i += 1;
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the header".into(),
            Some(b'#') => format!("a comment at byte {}", self.i),
            Some(c) if c.is_ascii_graphic() => format!("'{}' at byte {}", c as char, self.i),
            Some(c) => format!("byte 0x{c:02x} at byte {}", self.i),
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {what} but found {}", self.found()))
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "expected a quoted string but found {}",
                    self.found()
                ));
            }
        };
        let start = self.i + 1;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == q || c == b'\\' || c == b'\n')
            .ok_or_else(|| format!("the string starting at byte {} is never closed", self.i))?;
        let end = start + len;
        match self.b[end] {
            b'\\' => Err(format!(
                "escape sequences are not supported (string at byte {})",
                self.i
            )),
            b'\n' => Err(format!(
                "the string starting at byte {} runs into a line break",
                self.i
            )),
            _ => {
                self.i = end + 1;
                Ok(self.b[start..end].to_vec())
            }
        }
    }

    fn int(&mut self) -> Result<u64, String> {
        let at = self.i;
        match self.peek() {
            Some(b'-') => return Err(format!("negative number at byte {at}")),
            Some(c) if c.is_ascii_digit() => {}
            _ => return Err(format!("expected an integer but found {}", self.found())),
        }
        let mut v: u64 = 0;
        let mut last_digit = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(c - b'0')))
                        .ok_or_else(|| {
                            format!("the integer at byte {at} does not fit in 64 bits")
                        })?;
                    last_digit = true;
                }
                b'_' if last_digit => last_digit = false,
                _ => break,
            }
            self.i += 1;
        }
        if !last_digit {
            return Err(format!("malformed integer at byte {at}"));
        }
        if let Some(b'L' | b'l') = self.peek() {
            self.i += 1;
        }
        if let Some(c) = self.peek()
            && (c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
        {
            return Err(format!(
                "malformed integer at byte {at} (found {})",
                self.found()
            ));
        }
        Ok(v)
    }

    fn tuple(&mut self) -> Result<Value, String> {
        self.expect(b'(', "'('")?;
        self.ws();
        let mut items = Vec::new();
        if self.peek() == Some(b')') {
            self.i += 1;
            return Ok(Value::Tuple(items));
        }
        loop {
            if items.len() == MAX_NDIM {
                return Err(format!("a shape has at most {MAX_NDIM} dimensions"));
            }
            items.push(self.int()?);
            self.ws();
            match self.peek() {
                Some(b')') if items.len() == 1 => {
                    self.i += 1;
                    return Ok(Value::Int(items[0]));
                }
                Some(b')') => {
                    self.i += 1;
                    return Ok(Value::Tuple(items));
                }
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b')') {
                        self.i += 1;
                        return Ok(Value::Tuple(items));
                    }
                }
                _ => return Err(format!("expected ',' or ')' but found {}", self.found())),
            }
        }
    }

    fn word(&mut self, w: &[u8]) -> bool {
        let end = self.i + w.len();
        let boundary = self
            .b
            .get(end)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if self.b.get(self.i..end) == Some(w) && boundary {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => self.tuple(),
            _ if self.word(b"True") => Ok(Value::Bool(true)),
            _ if self.word(b"False") => Ok(Value::Bool(false)),
            Some(b'[') => Err(format!(
                "a list at byte {} (structured dtypes are not supported)",
                self.i
            )),
            _ => Err(format!(
                "expected a string, True, False or a tuple but found {}",
                self.found()
            )),
        }
    }
}

/// Parses a header (the bytes between the length field and the data). The error is the reason alone;
/// the caller names the file.
pub(crate) fn parse(b: &[u8]) -> Result<NpyHeader, String> {
    let mut p = Parser { b, i: 0 };
    p.ws();
    p.expect(b'{', "'{' (the header is a Python dict)")?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.peek() == Some(b'}') {
            p.i += 1;
            break;
        }
        let key_at = p.i;
        let key = p.string()?;
        p.ws();
        p.expect(b':', "':' after a key")?;
        p.ws();
        let value_at = p.i;
        let value = p.value()?;
        let slot = match key.as_slice() {
            b"descr" => &mut descr,
            b"fortran_order" => &mut fortran,
            b"shape" => &mut shape,
            other => {
                return Err(format!(
                    "unexpected key '{}' at byte {key_at} (a .npy header has exactly 'descr', \
                     'fortran_order' and 'shape')",
                    show(other)
                ));
            }
        };
        if slot.is_some() {
            return Err(format!(
                "key '{}' appears twice (again at byte {key_at})",
                show(&key)
            ));
        }
        *slot = Some((value, value_at));
        p.ws();
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected ',' or '}}' but found {}", p.found())),
        }
    }
    p.ws();
    if p.i != b.len() {
        return Err(format!("unexpected {} after the header dict", p.found()));
    }
    let missing = |k: &str| format!("the header has no '{k}' key");
    let descr = match descr.ok_or_else(|| missing("descr"))? {
        (Value::Str(s), _) => s,
        (v, at) => {
            return Err(format!(
                "'descr' is {} at byte {at}, not a string",
                v.kind()
            ));
        }
    };
    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        (Value::Bool(f), _) => f,
        (v, at) => {
            return Err(format!(
                "'fortran_order' is {} at byte {at}, not True or False",
                v.kind()
            ));
        }
    };
    let shape = match shape.ok_or_else(|| missing("shape"))? {
        (Value::Tuple(t), _) => t,
        (Value::Int(n), at) => {
            return Err(format!(
                "'shape' at byte {at} is ({n}), which is the int {n}, not a tuple; a 1-D shape is \
                 written ({n},)"
            ));
        }
        (v, at) => return Err(format!("'shape' is {} at byte {at}, not a tuple", v.kind())),
    };
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> NpyHeader {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn err(s: &[u8]) -> String {
        parse(s).map(|h| format!("{h:?}")).unwrap_err()
    }

    #[test]
    fn numpy_headers_in_any_order_and_quoting() {
        let h = ok("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n");
        assert_eq!(
            (h.descr.as_slice(), h.fortran_order, h.shape.as_slice()),
            (&b"<f4"[..], false, &[3u64, 4][..])
        );
        let h = ok("{\"shape\":(5,),\"fortran_order\":True,\"descr\":\"|f4\"}");
        assert_eq!((h.shape, h.fortran_order), (vec![5], true));
        assert_eq!(
            ok("{'descr':'<f4','fortran_order':False,'shape':()}").shape,
            Vec::<u64>::new()
        );
        assert_eq!(
            ok("{'descr': '<f4', 'fortran_order': False, 'shape': (1_000, 2L, 3 ,)}").shape,
            vec![1000, 2, 3]
        );
        assert_eq!(
            ok("\n{\n 'descr' : '<f4' ,\n 'fortran_order' : False ,\n 'shape' : ( 2 , 3 ) \n}\r\n")
                .shape,
            vec![2, 3]
        );
    }

    #[test]
    fn a_string_value_cannot_smuggle_a_shape() {
        // The shape of the issue: an extra key whose string holds `'shape': (1920, 1)`.
        let e = err(
            b"{'descr': '<f4', 'note': \"'shape': (1920, 1)\", 'fortran_order': False, 'shape': (2, 2), }",
        );
        assert!(e.contains("unexpected key 'note'"), "{e}");
        let h = parse(b"{'descr': \"x'shape': (1920, 1)\", 'fortran_order': False, 'shape': (2,)}")
            .unwrap();
        assert_eq!(h.shape, vec![2]);
    }

    #[test]
    fn malformed_headers_say_what_is_wrong() {
        let cases: [(&[u8], &str); 16] = [
            (b"", "expected '{'"),
            (b"{'descr': '<f4', 'fortran_order': False}", "no 'shape'"),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (5)}",
                "not a tuple",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': [5]}",
                "a list",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (-5,)}",
                "negative",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': 0, 'shape': (5,)}",
                "expected a string, True",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (5,)}",
                "expected a string",
            ),
            (
                b"{'descr': 5, 'fortran_order': False, 'shape': (5,)}",
                "expected a string",
            ),
            (
                b"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (5,)}",
                "twice",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (5,)} x",
                "after the header",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                "64 bits",
            ),
            (
                b"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (5,)}",
                "escape",
            ),
            (
                b"{'descr': '<f4, 'fortran_order': False, 'shape': (5,)}",
                "expected ',' or '}'",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (5,) # c\n}",
                "comment",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (5,,)}",
                "expected an integer",
            ),
            (
                b"{'descr': '\xe2\x82\xac', 'fortran_order': False 'shape': (5,)}",
                "expected ','",
            ),
        ];
        for (h, needle) in cases {
            let e = err(h);
            assert!(e.contains(needle), "{}: {e}", show(h));
        }
        let deep = format!("{{'shape': ({}5,)}}", "(".repeat(100_000));
        assert!(err(deep.as_bytes()).contains("expected an integer"));
        let many = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({})}}",
            "1, ".repeat(65)
        );
        assert!(err(many.as_bytes()).contains("at most 64"));
    }

    #[test]
    fn non_ascii_strings_are_kept_as_bytes() {
        let h = parse("{'descr': '€', 'fortran_order': False, 'shape': (1,)}".as_bytes()).unwrap();
        assert_eq!(h.descr, "€".as_bytes());
        assert_eq!(show(&h.descr), "€");
        assert_eq!(show(b"\xff\x00"), "\u{fffd}\\0");
    }
}
