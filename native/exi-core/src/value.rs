//! Decoded values: a typed tree that follows the complex types' field lists.

/// An integer too large for `i128` (e.g. an X509SerialNumber): sign and big-endian magnitude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    pub negative: bool,
    pub magnitude: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i128),
    Big(BigInt),
    Str(String),
    Bytes(Vec<u8>),
    /// Index into the enumeration's values.
    Enum(u16),
    Node(Node),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub ty: u16,
    pub fields: Vec<Slot>,
}

impl Node {
    pub fn new(ty: u16, n: usize) -> Node {
        let mut fields = Vec::with_capacity(n);
        fields.resize_with(n, || Slot::Absent);
        Node { ty, fields }
    }
}
