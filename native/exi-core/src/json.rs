//! The canonical JSON view of a decoded message (the `json` column of the shared EXI vectors): element and
//! attribute names as keys, simple content as `value`, repeated elements (maxOccurs > 1) as arrays, hexBinary
//! as upper-case hex, base64Binary as base64, enumerations by name, integers as JSON numbers of any size.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value as J;

use crate::error::{Error, Result};
use crate::tables::{Child, Datatype, EnumBase, Schema};
use crate::value::{BigInt, Node, Slot, Value};

pub fn to_json(s: &'static Schema, root: Child, name: &str, v: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push('{');
    push_str(&mut out, name);
    out.push(':');
    write_child(s, root, v, &mut out);
    out.push('}');
    out
}

fn write_child(s: &'static Schema, c: Child, v: &Value, out: &mut String) {
    match (c, v) {
        (Child::Complex(_), Value::Node(n)) => write_node(s, n, out),
        (Child::Simple(d), v) => write_simple(&s.datatypes[d as usize], v, out),
        (_, v) => write_simple(&Datatype::Boolean, v, out),
    }
}

fn write_node(s: &'static Schema, n: &Node, out: &mut String) {
    let td = &s.types[n.ty as usize];
    out.push('{');
    let mut first = true;
    for (fd, slot) in td.fields.iter().zip(&n.fields) {
        if matches!(slot, Slot::Absent) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_str(out, fd.name);
        out.push(':');
        match slot {
            Slot::Many(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_child(s, fd.child, item, out);
                }
                out.push(']');
            }
            Slot::One(v) => write_child(s, fd.child, v, out),
            Slot::Absent => {}
        }
    }
    out.push('}');
}

fn write_simple(dt: &Datatype, v: &Value, out: &mut String) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Big(b) => out.push_str(&big_to_decimal(b)),
        Value::Str(t) => push_str(out, t),
        Value::Bytes(b) => {
            if matches!(dt, Datatype::Binary { hex: true, .. }) {
                out.push('"');
                for byte in b {
                    out.push_str(&format!("{byte:02X}"));
                }
                out.push('"');
            } else {
                push_str(out, &B64.encode(b));
            }
        }
        Value::Enum(i) => {
            if let Datatype::Enum { values, base, .. } = dt {
                let text = values.get(*i as usize).copied().unwrap_or("");
                if *base == EnumBase::Int {
                    out.push_str(text);
                } else {
                    push_str(out, text);
                }
            }
        }
        Value::Node(_) => out.push_str("null"),
    }
}

fn push_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

pub fn big_to_decimal(b: &BigInt) -> String {
    let mut digits: Vec<u8> = Vec::new();
    let mut mag: Vec<u32> = b.magnitude.iter().map(|x| u32::from(*x)).collect();
    while mag.iter().any(|x| *x != 0) {
        let mut rem = 0u32;
        for x in mag.iter_mut() {
            let cur = rem * 256 + *x;
            *x = cur / 10;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if b.negative {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn decimal_to_big(text: &str) -> Option<BigInt> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut mag: Vec<u8> = vec![0];
    for c in digits.bytes() {
        let mut carry = u32::from(c - b'0');
        for x in mag.iter_mut().rev() {
            let cur = u32::from(*x) * 10 + carry;
            *x = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let first = mag.iter().position(|x| *x != 0).unwrap_or(mag.len());
    Some(BigInt { negative, magnitude: mag[first..].to_vec() })
}

/// Parse the JSON view: the root object's one key names the element among `decls`.
pub fn from_json(s: &'static Schema, decls: &'static [crate::tables::Decl], text: &str) -> Result<(usize, Value)> {
    let parsed: J = serde_json::from_str(text).map_err(|e| Error::new(format!("invalid JSON: {e}"), 0))?;
    let obj = parsed.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        Error::new("JSON must be an object with exactly one key: the element name", 0)
    })?;
    let (name, body) = obj.iter().next().ok_or_else(|| Error::new("empty JSON object", 0))?;
    let index = decls
        .iter()
        .position(|d| s.qnames[d.q as usize].local == name)
        .ok_or_else(|| Error::new(format!("{name} is not an element of grammar {}", s.id), 0))?;
    let v = read_child(s, decls[index].c, body).map_err(|e| e.within(s.qnames[decls[index].q as usize].local))?;
    Ok((index, v))
}

fn read_child(s: &'static Schema, c: Child, j: &J) -> Result<Value> {
    match c {
        Child::Complex(t) => read_node(s, t, j).map(|n| Value::Node(n)),
        Child::Simple(d) => read_simple(&s.datatypes[d as usize], j),
    }
}

fn read_node(s: &'static Schema, t: u16, j: &J) -> Result<Node> {
    let td = &s.types[t as usize];
    let obj = j.as_object().ok_or_else(|| Error::new(format!("{} must be a JSON object", td.name), 0))?;
    let mut node = Node::new(t, td.fields.len());
    for (key, val) in obj {
        let fi = td
            .fields
            .iter()
            .position(|f| f.name == key)
            .ok_or_else(|| Error::new(format!("{key} is not a member of {}", td.name), 0))?;
        let fd = &td.fields[fi];
        *node.field_mut(fi) = if fd.repeated {
            let items: Vec<&J> = match val.as_array() {
                Some(a) => a.iter().collect(),
                None => vec![val],
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(read_child(s, fd.child, item).map_err(|e| e.within(fd.name))?);
            }
            Slot::Many(out)
        } else {
            Slot::One(read_child(s, fd.child, val).map_err(|e| e.within(fd.name))?)
        };
    }
    Ok(node)
}

fn read_simple(dt: &Datatype, j: &J) -> Result<Value> {
    let bad = |what: &str| Error::new(format!("expected {what}, got {j}"), 0);
    match dt {
        Datatype::Boolean => j.as_bool().map(Value::Bool).ok_or_else(|| bad("a boolean")),
        Datatype::String { .. } => j.as_str().map(|t| Value::Str(t.to_string())).ok_or_else(|| bad("a string")),
        Datatype::Binary { hex, .. } => {
            let text = j.as_str().ok_or_else(|| bad("a string"))?;
            if *hex {
                decode_hex(text).map(Value::Bytes).ok_or_else(|| bad("hex digits"))
            } else {
                B64.decode(text).map(Value::Bytes).map_err(|_| bad("base64"))
            }
        }
        Datatype::NBitInt { .. } | Datatype::UnsignedInt { .. } | Datatype::SignedInt { .. } => {
            let n = j.as_number().ok_or_else(|| bad("an integer"))?;
            let big = decimal_to_big(&n.to_string()).ok_or_else(|| bad("an integer"))?;
            Ok(match big.to_i128() {
                Some(i) => Value::int(i),
                None => Value::big(big),
            })
        }
        Datatype::Enum { values, .. } => {
            let text = match j {
                J::String(t) => t.clone(),
                J::Number(n) => n.to_string(),
                _ => return Err(bad("an enumeration value")),
            };
            values
                .iter()
                .position(|v| *v == text)
                .map(|i| Value::Enum(i as u16))
                .ok_or_else(|| Error::new(format!("{text:?} is not one of {values:?}"), 0))
        }
    }
}

pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.len() % 2 != 0 {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}
