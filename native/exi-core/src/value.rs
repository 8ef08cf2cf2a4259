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
