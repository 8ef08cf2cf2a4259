//! Valid values by construction: a seeded random walk over a grammar. Used by the property tests (every element
//! of every grammar round-trips) and as the seed corpus of the mutation fuzzer.

use crate::tables::{Child, Datatype, Event, FieldKind, Schema};
use crate::value::{BigInt, Node, Slot, Value};

/// xorshift64*: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A random valid value of element `index` of the document (`fragment = false`) or fragment grammar.
pub fn generate(s: &'static Schema, fragment: bool, index: usize, seed: u64) -> Option<Value> {
    let decls = if fragment { s.fragment } else { s.document };
    let decl = decls.get(index)?;
    let mut rng = Rng::new(seed);
    child(s, decl.c, &mut rng, 0)
}

/// `None` when the grammar can only go on through productions the V2G profile forbids (wildcard-only content).
fn child(s: &'static Schema, c: Child, rng: &mut Rng, depth: usize) -> Option<Value> {
    match c {
        Child::Simple(d) => Some(simple(&s.datatypes[d as usize], rng)),
        Child::Complex(t) => node(s, t, rng, depth).map(|n| Value::Node(n)),
    }
}

fn node(s: &'static Schema, t: u16, rng: &mut Rng, depth: usize) -> Option<Node> {
    let td = &s.types[t as usize];
    let mut n = Node::new(t, td.fields.len());
    let mut st = td.start as usize;
    let mut steps = 0u32;
    loop {
        let state = &s.states[st];
        let mut usable: Vec<usize> = state
            .prods
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.e, Event::At { .. } | Event::Se { .. } | Event::Ch { .. }))
            .map(|(i, _)| i)
            .collect();
        let ee = state.prods.iter().any(|p| matches!(p.e, Event::Ee));
        // End early more often deeper down and after many steps, so that walks stay small.
        let end_bias = 2 + depth as u64 + u64::from(steps / 2);
        if ee && (usable.is_empty() || rng.below(end_bias) > 0) {
            return Some(n);
        }
        let (p, f, v) = loop {
            if usable.is_empty() {
                return if ee { Some(n) } else { None };
            }
            let k = rng.below(usable.len() as u64) as usize;
            let p = &state.prods[usable[k]];
            let made = match p.e {
                Event::At { d, f, .. } | Event::Ch { d, f } => Some((f, simple(&s.datatypes[d as usize], rng))),
                Event::Se { c, f, .. } => child(s, c, rng, depth + 1).map(|v| (f, v)),
                _ => None,
            };
            match made {
                Some((f, v)) => break (p, f, v),
                None => {
                    usable.swap_remove(k);
                }
            }
        };
        let fd = &td.fields[f as usize];
        let slot = n.field_mut(f as usize);
        if fd.repeated {
            match slot {
                Slot::Many(list) => list.push(v),
                _ => *slot = Slot::Many(vec![v]),
            }
        } else {
            *slot = Slot::One(v);
        }
        st = p.n as usize;
        steps += 1;
    }
}

fn simple(d: &Datatype, rng: &mut Rng) -> Value {
    match d {
        Datatype::Boolean => Value::Bool(rng.below(2) == 1),
        Datatype::String { min_len, max_len } => {
            let hi = (*max_len).min(*min_len + 12);
            let n = *min_len as u64 + rng.below(u64::from(hi - *min_len) + 1);
            let text: String = (0..n).map(|_| char::from(b' ' + rng.below(95) as u8)).collect();
            Value::Str(text)
        }
        Datatype::Binary { min_len, max_len, .. } => {
            let hi = (*max_len).min(*min_len + 24);
            let n = *min_len as u64 + rng.below(u64::from(hi - *min_len) + 1);
            Value::Bytes((0..n).map(|_| rng.next() as u8).collect())
        }
        Datatype::NBitInt { min, max, .. } => Value::int(i128::from(*min) + i128::from(rng.below((*max - *min) as u64 + 1))),
        Datatype::UnsignedInt { min, max } => match max {
            None if rng.below(4) == 0 => {
                let len = 1 + rng.below(24) as usize;
                let mut magnitude: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                magnitude[0] |= 1;
                let b = BigInt { negative: false, magnitude };
                b.to_i128().map_or(Value::big(b), Value::int)
            }
            _ => {
                let hi = max.unwrap_or(i128::from(u64::MAX)).min(min + (1i128 << 40));
                Value::int(min + i128::from(rng.next()) % (hi - min + 1))
            }
        },
        Datatype::SignedInt { min, max } => {
            let lo = min.unwrap_or(-(1i128 << 40)).max(-(1i128 << 40));
            let hi = max.unwrap_or(1i128 << 40).min(1i128 << 40);
            Value::int(lo + i128::from(rng.next()) % (hi - lo + 1))
        }
        Datatype::Enum { values, .. } => Value::Enum(rng.below(values.len() as u64) as u16),
    }
}

/// As [`generate`], with about half of the string and binary element values (simple elements and the value of
/// simple-content types) made empty: the values that EXIficient writes as a second-level EE (EXI.md §1).
pub fn generate_with_empty_values(s: &'static Schema, fragment: bool, index: usize, seed: u64) -> Option<Value> {
    let decls = if fragment { s.fragment } else { s.document };
    let decl = decls.get(index)?;
    let mut v = generate(s, fragment, index, seed)?;
    let mut rng = Rng::new(seed ^ 0x00E1_E1E1);
    blank(s, decl.c, &mut v, &mut rng);
    Some(v)
}

fn blank(s: &'static Schema, c: Child, v: &mut Value, rng: &mut Rng) {
    match (c, v) {
        (Child::Simple(d), v) => {
            if rng.below(2) == 0 {
                match (&s.datatypes[d as usize], v) {
                    (Datatype::String { .. }, Value::Str(t)) => t.clear(),
                    (Datatype::Binary { .. }, Value::Bytes(b)) => b.clear(),
                    _ => {}
                }
            }
        }
        (Child::Complex(_), Value::Node(n)) => {
            let td = &s.types[n.ty as usize];
            for (fd, slot) in td.fields.iter().zip(n.fields.iter_mut()) {
                if fd.kind == FieldKind::Attribute {
                    continue;
                }
                match slot {
                    Slot::Absent => {}
                    Slot::One(v) => blank(s, fd.child, v, rng),
                    Slot::Many(list) => list.iter_mut().for_each(|v| blank(s, fd.child, v, rng)),
                }
            }
        }
        _ => {}
    }
}

/// Whether a value holds an empty string or binary anywhere outside attributes.
pub fn has_empty_value(s: &'static Schema, c: Child, v: &Value) -> bool {
    match (c, v) {
        (Child::Simple(_), Value::Str(t)) => t.is_empty(),
        (Child::Simple(_), Value::Bytes(b)) => b.is_empty(),
        (Child::Complex(_), Value::Node(n)) => {
            let td = &s.types[n.ty as usize];
            td.fields.iter().zip(n.fields.iter()).any(|(fd, slot)| {
                fd.kind != FieldKind::Attribute && (0..slot.count()).any(|i| slot.get(i).is_some_and(|v| has_empty_value(s, fd.child, v)))
            })
        }
        _ => false,
    }
}
