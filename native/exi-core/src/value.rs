//! Decoded values: a typed tree that follows the complex types' field lists.

/// An integer too large for `i128` (e.g. an X509SerialNumber): sign and big-endian magnitude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    pub negative: bool,
    pub magnitude: Vec<u8>,
}

/// An integer of the value tree: an `i128` kept as two 64-bit halves, so that values are 8-byte aligned (an
/// `i128` field would align every value and slot to 16 bytes: a slot of 48 bytes instead of 32).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Int {
    lo: u64,
    hi: u64,
}

impl Int {
    #[inline(always)]
    pub const fn new(v: i128) -> Int {
        Int { lo: v as u64, hi: (v >> 64) as u64 }
    }

    #[inline(always)]
    pub const fn get(self) -> i128 {
        ((self.hi as i128) << 64) | self.lo as i128
    }
}

impl From<i128> for Int {
    #[inline(always)]
    fn from(v: i128) -> Int {
        Int::new(v)
    }
}

impl From<Int> for i128 {
    #[inline(always)]
    fn from(v: Int) -> i128 {
        v.get()
    }
}

impl std::fmt::Debug for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(Int),
    /// Boxed: rare (X509 serial numbers), and inline it would make every value larger.
    Big(Box<BigInt>),
    Str(String),
    Bytes(Vec<u8>),
    /// Index into the enumeration's values.
    Enum(u16),
    Node(Node),
}

impl Value {
    /// `Value::Int` of `v`.
    #[inline(always)]
    pub fn int(v: i128) -> Value {
        Value::Int(Int::new(v))
    }

    /// `Value::Big` of `b`.
    pub fn big(b: BigInt) -> Value {
        Value::Big(Box::new(b))
    }

    /// The integer of a `Value::Int`.
    #[inline(always)]
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i.get()),
            _ => None,
        }
    }
}

/// One field of a node: absent, one value, or the values of a repeated field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Absent,
    One(Value),
    Many(Vec<Value>),
}

impl Slot {
    pub fn count(&self) -> usize {
        match self {
            Slot::Absent => 0,
            Slot::One(_) => 1,
            Slot::Many(v) => v.len(),
        }
    }

    pub fn get(&self, i: usize) -> Option<&Value> {
        match self {
            Slot::Absent => None,
            Slot::One(v) => (i == 0).then_some(v),
            Slot::Many(v) => v.get(i),
        }
    }
}

/// A complex-type instance: `fields[i]` belongs to `Schema::types[ty].fields[i]`.
///
/// `fields` may be shorter than the type's field list: every field at or past `fields.len()` is absent (a
/// decoded choice, e.g. a message body, holds only the slots up to the chosen element). Read with
/// [`Node::field`] and write with [`Node::field_mut`], which see the missing slots as [`Slot::Absent`];
/// equality does too (a short and a full node with the same present fields are equal).
#[derive(Debug, Clone, Eq)]
pub struct Node {
    pub ty: u16,
    pub fields: Vec<Slot>,
}

/// What a node's missing trailing slots read as.
static ABSENT: Slot = Slot::Absent;

impl Node {
    /// A node with `n` absent slots (`n` = 0 gives a node that allocates on its first [`Node::field_mut`]).
    pub fn new(ty: u16, n: usize) -> Node {
        let mut fields = Vec::with_capacity(n);
        fields.resize_with(n, || Slot::Absent);
        Node { ty, fields }
    }

    /// Field `i`: absent when `i` is at or past the slots the node holds.
    #[inline(always)]
    pub fn field(&self, i: usize) -> &Slot {
        self.fields.get(i).unwrap_or(&ABSENT)
    }

    /// Field `i` for writing, the slots up to it added (absent) when the node holds fewer. The caller bounds
    /// `i` by the type's field count.
    #[inline(always)]
    pub fn field_mut(&mut self, i: usize) -> &mut Slot {
        if i >= self.fields.len() {
            self.grow(i + 1);
        }
        &mut self.fields[i]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        self.fields.reserve_exact(n - self.fields.len());
        self.fields.resize_with(n, || Slot::Absent);
    }
}

impl PartialEq for Node {
    /// Same type and the same value in every field, missing trailing slots counting as absent.
    fn eq(&self, other: &Node) -> bool {
        if self.ty != other.ty {
            return false;
        }
        let (short, long) = if self.fields.len() <= other.fields.len() { (self, other) } else { (other, self) };
        let n = short.fields.len();
        short.fields[..] == long.fields[..n] && long.fields[n..].iter().all(|s| matches!(s, Slot::Absent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout the decoder's speed relies on (issue 17): 8-byte aligned values, 32-byte slots, so that a node
    /// of three fields (96 bytes) stays within glibc's fastbin sizes and a message body's slots within its tcache.
    #[test]
    fn a_slot_is_32_bytes() {
        assert_eq!(std::mem::align_of::<Value>(), 8);
        assert!(std::mem::size_of::<Slot>() <= 32, "Slot is {} bytes", std::mem::size_of::<Slot>());
    }

    #[test]
    fn int_keeps_every_i128() {
        for v in [0, 1, -1, i128::MIN, i128::MAX, i128::from(u64::MAX), -i128::from(u64::MAX) - 7, 1 << 70, -(1 << 90)] {
            assert_eq!(Int::new(v).get(), v);
            assert_eq!(format!("{:?}", Value::int(v)), format!("Int({v})"));
        }
        assert_ne!(Int::new(1 << 64), Int::new(1));
    }
}
