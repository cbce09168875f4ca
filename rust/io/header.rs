//! Checks a safetensors header field by field before anything is trusted or allocated, so a
//! corrupt or hostile file gets an error naming the tensor and what is wrong with it. The
//! safetensors crate then parses the same header as the authority on the format (it enforces
//! these rules too, with terser messages).

use serde_json::{Map, Value};

use super::dtype::{self, SUPPORTED};
use crate::bail;
use crate::error::Result;

/// One tensor's byte range in the data section (after the header).
struct Span<'a> {
    name: &'a str,
    begin: u64,
    end: u64,
}

/// Checks `header` (the JSON text) against a data section of `data_len` bytes.
pub fn check(header: &str, data_len: u64) -> Result<()> {
    let value: Value = match serde_json::from_str(header) {
        Ok(v) => v,
        Err(e) => bail!(Value, "the header is not valid JSON ({e})"),
    };
    let Some(entries) = value.as_object() else {
        bail!(Value, "the header is not a JSON object (it is {})", kind(&value));
    };
    // serde_json keeps the last of two equal keys: a header naming a tensor twice would load one
    // tensor and silently drop the other (and leave its bytes unaccounted for).
    if let Some((key, depth)) = Walker::new(header).duplicate_key() {
        match depth {
            0 => bail!(Value, "the header names tensor {key:?} twice"),
            _ => bail!(Value, "the header has the key {key:?} twice in one object"),
        }
    }
    let mut spans = Vec::with_capacity(entries.len());
    for (name, info) in entries {
        if name == "__metadata__" {
            check_metadata(info)?;
            continue;
        }
        spans.push(check_tensor(name, info, data_len)?);
    }
    spans.sort_by_key(|s| (s.begin, s.end));
    let mut covered = 0u64;
    let mut last: Option<&Span> = None;
    for s in &spans {
        if s.begin < covered {
            let p = last.map_or("", |p| p.name);
            bail!(Value, "tensors {p:?} and {:?} overlap (bytes {}..{} of the data section)", s.name, s.begin, covered.min(s.end));
        }
        if s.begin > covered {
            bail!(Value, "bytes {covered}..{} of the data section belong to no tensor (before {:?})", s.begin, s.name);
        }
        covered = s.end;
        last = Some(s);
    }
    if covered != data_len {
        bail!(Value, "the data section has {data_len} bytes but the tensors cover {covered}: the file has trailing bytes");
    }
    Ok(())
}

fn check_metadata(info: &Value) -> Result<()> {
    match info {
        Value::Null => Ok(()),
        Value::Object(m) => match m.iter().find(|(_, v)| !v.is_string()) {
            Some((k, v)) => bail!(Value, "__metadata__ values must be strings; {k:?} is {}", kind(v)),
            None => Ok(()),
        },
        other => bail!(Value, "__metadata__ must be an object of strings, got {}", kind(other)),
    }
}

fn check_tensor<'a>(name: &'a str, info: &Value, data_len: u64) -> Result<Span<'a>> {
    let Some(info) = info.as_object() else {
        bail!(Value, "tensor {name:?}: expected an object with dtype, shape and data_offsets, got {}", kind(info));
    };
    let dtype_name = field(name, info, "dtype")?.as_str();
    let Some(dtype_name) = dtype_name else { bail!(Value, "tensor {name:?}: dtype must be a string") };
    let file_dtype = match dtype::parse(dtype_name).filter(|d| dtype::loaded_as(*d).is_some()) {
        Some(d) => d,
        None => bail!(Value, "tensor {name:?}: unsupported dtype {dtype_name:?} (ferrograd reads {SUPPORTED})"),
    };
    let shape = ints(name, field(name, info, "shape")?, "shape")?;
    let offsets = ints(name, field(name, info, "data_offsets")?, "data_offsets")?;
    let &[begin, end] = offsets.as_slice() else {
        bail!(Value, "tensor {name:?}: data_offsets must be [begin, end], got {offsets:?}");
    };
    if end < begin {
        bail!(Value, "tensor {name:?}: data_offsets [{begin}, {end}] end before they begin");
    }
    if end > data_len {
        bail!(Value, "tensor {name:?}: data_offsets [{begin}, {end}] run past the end of the data section ({data_len} bytes)");
    }
    // Bounded with zero dims counted as 1 too: strides multiply the non-zero dims, so an empty
    // tensor of shape [0, 2^40, 2^40] would overflow them.
    let bound = shape.iter().try_fold(dtype::byte_size(file_dtype) as u64, |acc, &d| acc.checked_mul(d.max(1)));
    let bytes = bound.filter(|&b| b <= isize::MAX as u64).map(|_| shape.iter().product::<u64>() * dtype::byte_size(file_dtype) as u64);
    match bytes {
        Some(b) if b == end - begin => Ok(Span { name, begin, end }),
        Some(b) => bail!(
            Value,
            "tensor {name:?}: {dtype_name} of shape {shape:?} takes {b} bytes but data_offsets [{begin}, {end}] span {}",
            end - begin
        ),
        None => bail!(Value, "tensor {name:?}: shape {shape:?} holds more elements than any file can"),
    }
}

fn field<'v>(name: &str, info: &'v Map<String, Value>, key: &str) -> Result<&'v Value> {
    match info.get(key) {
        Some(v) => Ok(v),
        None => bail!(Value, "tensor {name:?}: missing {key:?}"),
    }
}

/// A list of non-negative integers (shape, data_offsets).
fn ints(name: &str, v: &Value, what: &str) -> Result<Vec<u64>> {
    let bad = || crate::error::Error::Value(format!("tensor {name:?}: {what} must be a list of non-negative integers, got {v}"));
    v.as_array().ok_or_else(bad)?.iter().map(|x| x.as_u64().ok_or_else(bad)).collect()
}

/// Walks JSON text that serde_json has already accepted, looking at every object's keys (which
/// serde_json's maps deduplicate before anyone can see them). Never panics on any input: past
/// the end, `peek` reads as 0 and every loop stops.
struct Walker<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Walker<'a> {
    fn new(text: &'a str) -> Self {
        Walker { text, at: 0 }
    }

    fn peek(&self) -> u8 {
        self.text.as_bytes().get(self.at).copied().unwrap_or(0)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    /// The first key found twice in one object, and how deep that object is (0: the header).
    fn duplicate_key(&mut self) -> Option<(String, usize)> {
        self.value(0)
    }

    fn value(&mut self, depth: usize) -> Option<(String, usize)> {
        self.skip_space();
        match self.peek() {
            b'{' => self.object(depth),
            b'[' => {
                self.at += 1;
                loop {
                    self.skip_space();
                    if matches!(self.peek(), b']' | 0) {
                        self.at += 1;
                        return None;
                    }
                    if let Some(found) = self.value(depth + 1) {
                        return Some(found);
                    }
                    self.skip_space();
                    if self.peek() == b',' {
                        self.at += 1;
                    }
                }
            }
            b'"' => {
                self.string();
                None
            }
            _ => {
                // A number, true, false or null; at least one byte, so every loop makes progress
                // even on text that is not JSON.
                self.at += 1;
                while !matches!(self.peek(), b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r' | 0) {
                    self.at += 1;
                }
                None
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<(String, usize)> {
        self.at += 1;
        let mut keys = std::collections::HashSet::new();
        loop {
            self.skip_space();
            if matches!(self.peek(), b'}' | 0) {
                self.at += 1;
                return None;
            }
            // Decoded, so "a" and "\u0061" are the same key, as serde_json sees them.
            let raw = self.string();
            let key: String = serde_json::from_str(raw).unwrap_or_else(|_| raw.to_owned());
            if !keys.insert(key.clone()) {
                return Some((key, depth));
            }
            self.skip_space();
            self.at += 1; // the colon
            if let Some(found) = self.value(depth + 1) {
                return Some(found);
            }
            self.skip_space();
            if self.peek() == b',' {
                self.at += 1;
            }
        }
    }

    /// The string starting at the current quote, quotes included.
    fn string(&mut self) -> &'a str {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    break;
                }
                0 => break,
                _ => self.at += 1,
            }
        }
        self.text.get(start..self.at.min(self.text.len())).unwrap_or("")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn err(header: &str, data_len: u64) -> String {
        match check(header, data_len) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("accepted {header}"),
        }
    }

    #[test]
    fn accepts_a_well_formed_header() {
        let h = r#"{"__metadata__":{"a":"b"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"I64","shape":[0],"data_offsets":[8,8]},"b":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]}}"#;
        check(h, 9).unwrap();
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth_and_never_panic() {
        use super::Walker;
        let found = |t: &str| Walker::new(t).duplicate_key();
        assert_eq!(found(r#"{"a": [1, {"b": "x\"}", "b": 2}], "c": null}"#), Some(("b".into(), 2)));
        assert_eq!(found(r#"{"a\\": 1, "a": 2, "b": {"a": 3}, "c": [[], {}], "d": -1.5e3}"#), None);
        // Not JSON at all (check() never passes such text, but the walker must not panic on it).
        for junk in ["", "{", "[", "\"", "{\"a", "{\"a\\", "{\"a\":", "[[[{", "}}}", "{\"a\":1,\"a\"", "[}", "{\"a\":}", "[:,]", "{\"\u{e9}\\"] {
            let _ = found(junk);
        }
    }

    #[test]
    fn names_what_is_wrong() {
        let cases: &[(&str, u64, &str)] = &[
            ("{not json", 0, "not valid JSON"),
            ("[1, 2]", 0, "not a JSON object"),
            (r#"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, 8, "unsupported dtype \"C64\""),
            (r#"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,8]}}"#, 8, "unsupported dtype \"Q4\""),
            (r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "shape must be a list of non-negative integers"),
            (r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, 4, "more elements than any file"),
            (r#"{"w":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#, 0, "more elements than any file"),
            (r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "takes 12 bytes but data_offsets [0, 8] span 8"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "run past the end of the data section (4 bytes)"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8, "end before they begin"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, 8, "must be [begin, end]"),
            (r#"{"w":{"dtype":"F32","shape":[2]}}"#, 8, "missing \"data_offsets\""),
            (r#"{"w":[1]}"#, 8, "expected an object"),
            (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlap"),
            (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "belong to no tensor"),
            (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "trailing bytes"),
            (r#"{"__metadata__":{"k":1}}"#, 0, "values must be strings"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8, "names tensor \"w\" twice"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "\u0077" :{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, 16, "names tensor \"w\" twice"),
            (r#"{"__metadata__":{"k":"a","k":"b"}}"#, 0, "the key \"k\" twice in one object"),
            (r#"{"w":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}}"#, 8, "the key \"shape\" twice"),
        ];
        for (h, n, want) in cases {
            let msg = err(h, *n);
            assert!(msg.contains(want), "{h}: {msg:?} does not mention {want:?}");
        }
    }
}
