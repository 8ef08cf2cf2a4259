//! `evcc._exi`: the thin PyO3 face of the EXI core. A `Codec` per schema set converts between the core's value
//! tree and the generated Python message classes; errors become the Python-side `ExiError` given at
//! construction, with the element path and bit offset.
#![deny(unsafe_code)]

mod bench;
mod fast;

use std::cell::RefCell;
use std::collections::HashMap;

use fast::ListClass;

use exi_core::tables::{Child, Datatype, FieldDef, Schema};
use exi_core::{BigInt, Kind, Limits, Node, Slot, Value};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::GILProtected;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple, PyType};

/// Encoding errors raised while reading Python objects: the core error type, built with a path.
type CoreResult<T> = Result<T, exi_core::Error>;

/// Per root type: the value tree of the last encoding, updated in place by the next one (the charge loop sends
/// the same shape every cycle: absent fields stay absent, nodes and byte buffers are reused, nothing is allocated
/// or freed per call). `Value::Bool(false)` where there is none yet.
type Trees = Vec<Value>;

/// Trees of encodings longer than this are not kept (bounds the memory a codec holds on to).
const KEEP_TREE_UP_TO: usize = 64 << 10;

#[pyclass(frozen, module = "evcc._exi")]
struct Codec {
    schema: &'static Schema,
    /// `classes[i]`: the generated class of type i (a `list` subclass).
    classes: Vec<ListClass>,
    enum_values: Vec<Vec<Py<PyString>>>,
    /// The qnames' local names, interned once.
    names: Vec<Py<PyString>>,
    /// Element name -> index in the document grammar and in the fragment grammar.
    document_index: HashMap<&'static str, usize>,
    fragment_index: HashMap<&'static str, usize>,
    /// The empty tuple (the arguments of `list.__new__`).
    no_args: Py<PyTuple>,
    int_from_bytes: PyObject,
    error: Py<PyType>,
    limits: Limits,
    /// The value trees of earlier encodings (see `Trees`), guarded by the GIL: every access holds it, and a
    /// call that finds them borrowed (a re-entrant encode from Python code run while reading objects) starts from
    /// an empty tree.
    trees: GILProtected<RefCell<Trees>>,
}

fn kind_of(fragment: bool) -> Kind {
    if fragment {
        Kind::Fragment
    } else {
        Kind::Document
    }
}

#[pymethods]
impl Codec {
    /// `Codec(schema_id, classes, error_type, max_input=1 MiB, max_depth=48)`; `classes[i]` is type i.
    #[new]
    #[pyo3(signature = (schema_id, classes, error_type, max_input=1 << 20, max_depth=48))]
    fn new(
        py: Python<'_>,
        schema_id: &str,
        classes: Vec<Bound<'_, PyType>>,
        error_type: Bound<'_, PyType>,
        max_input: usize,
        max_depth: usize,
    ) -> PyResult<Codec> {
        let schema = schema_by_module(schema_id).ok_or_else(|| PyKeyError::new_err(format!("no schema set {schema_id}")))?;
        if classes.len() != schema.types.len() {
            return Err(PyTypeError::new_err(format!(
                "{schema_id}: {} classes given, the tables have {} types",
                classes.len(),
                schema.types.len()
            )));
        }
        let enum_values = schema
            .datatypes
            .iter()
            .map(|d| match d {
                Datatype::Enum { values, .. } => values.iter().map(|v| PyString::intern(py, v).unbind()).collect(),
                _ => Vec::new(),
            })
            .collect();
        let builtins = py.import("builtins")?;
        Ok(Codec {
            schema,
            classes: classes.iter().map(ListClass::new).collect::<PyResult<_>>()?,
            enum_values,
            names: schema.qnames.iter().map(|q| PyString::intern(py, q.local).unbind()).collect(),
            document_index: index_of(schema, schema.document),
            fragment_index: index_of(schema, schema.fragment),
            no_args: PyTuple::empty(py).unbind(),
            int_from_bytes: builtins.getattr("int")?.getattr("from_bytes")?.unbind(),
            error: error_type.unbind(),
            limits: Limits { max_input, max_depth },
            trees: GILProtected::new(RefCell::new(Vec::new())),
        })
    }

    /// Decode a document (`fragment=False`) or a one-element fragment: returns `(element name, value)`.
    #[pyo3(signature = (data, fragment=false))]
    fn decode<'py>(&self, py: Python<'py>, data: &[u8], fragment: bool) -> PyResult<(Bound<'py, PyString>, Bound<'py, PyAny>)> {
        let kind = kind_of(fragment);
        let (index, value) = exi_core::decode(self.schema, kind, data, self.limits).map_err(|e| self.err(py, e))?;
        let decl = &kind.decls(self.schema)[index];
        let obj = self.to_py(py, decl.c, &value)?;
        Ok((self.names[decl.q as usize].bind(py).clone(), obj))
    }

    /// As `decode`, returning only the value (what `evcc.exi.decode` gives).
    #[pyo3(signature = (data, fragment=false))]
    fn decode_value<'py>(&self, py: Python<'py>, data: &[u8], fragment: bool) -> PyResult<Bound<'py, PyAny>> {
        self.decode_value_at(py, data, kind_of(fragment))
    }

    /// As `decode`, also returning how many empty values came as a second-level EE (EXIficient's form, which
    /// the decoder tolerates: EXI.md §1): `(element name, value, empty_value_as_ee)`.
    #[pyo3(signature = (data, fragment=false))]
    fn decode_counted<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        fragment: bool,
    ) -> PyResult<(Py<PyString>, Bound<'py, PyAny>, u32)> {
        let kind = kind_of(fragment);
        let (index, value, tolerated) =
            exi_core::decode_counted(self.schema, kind, data, self.limits).map_err(|e| self.err(py, e))?;
        let decl = &kind.decls(self.schema)[index];
        let obj = self.to_py(py, decl.c, &value)?;
        Ok((self.names[decl.q as usize].clone_ref(py), obj, tolerated.empty_value_as_ee))
    }

    /// Encode `value` as the element `name` of the document or fragment grammar. `empty_value_as_ee` writes
    /// empty strings and binaries the EXIficient way (a second-level EE) instead of the V2G encoders' CH of
    /// length 0: only for testing decoders; the product never sets it.
    #[pyo3(signature = (name, value, fragment=false, empty_value_as_ee=false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        value: &Bound<'py, PyAny>,
        fragment: bool,
        empty_value_as_ee: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let kind = kind_of(fragment);
        let by_name = if fragment { &self.fragment_index } else { &self.document_index };
        let index = *by_name
            .get(name)
            .ok_or_else(|| self.err(py, exi_core::Error::new(format!("{name} is not an element of this grammar"), 0)))?;
        self.encode_at(py, kind, index, value, empty_value_as_ee)
    }

    /// The canonical JSON view of a stream.
    #[pyo3(signature = (data, fragment=false))]
    fn to_json(&self, py: Python<'_>, data: &[u8], fragment: bool) -> PyResult<String> {
        exi_core::to_json(self.schema, kind_of(fragment), data, self.limits).map_err(|e| self.err(py, e))
    }

    /// Encode from the canonical JSON view.
    #[pyo3(signature = (text, fragment=false))]
    fn from_json<'py>(&self, py: Python<'py>, text: &str, fragment: bool) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = exi_core::from_json(self.schema, kind_of(fragment), text).map_err(|e| self.err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A random valid value of element `name` (a seeded walk over the grammar), for property tests; `None` when
    /// the element can only hold wildcard content. `empty_values` empties about half of the string and binary
    /// element values.
    #[pyo3(signature = (name, seed, fragment=false, empty_values=false))]
    fn sample<'py>(&self, py: Python<'py>, name: &str, seed: u64, fragment: bool, empty_values: bool) -> PyResult<Bound<'py, PyAny>> {
        let kind = kind_of(fragment);
        let decls = kind.decls(self.schema);
        let index = decls
            .iter()
            .position(|d| self.schema.qnames[d.q as usize].local == name)
            .ok_or_else(|| PyKeyError::new_err(name.to_string()))?;
        let made = if empty_values {
            exi_core::arbitrary::generate_with_empty_values(self.schema, fragment, index, seed)
        } else {
            exi_core::arbitrary::generate(self.schema, fragment, index, seed)
        };
        match made {
            Some(v) => self.to_py(py, decls[index].c, &v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Names of the global elements (document grammar) in code order.
    fn document_elements(&self) -> Vec<&'static str> {
        self.schema.document.iter().map(|d| self.schema.qnames[d.q as usize].local).collect()
    }

    /// Names of the fragment grammar's elements in code order.
    fn fragment_elements(&self) -> Vec<&'static str> {
        self.schema.fragment.iter().map(|d| self.schema.qnames[d.q as usize].local).collect()
    }
}

/// A grammar id's codec and kind (a value of `Registry.grammars`).
#[pyclass(frozen, module = "evcc._exi")]
struct Grammar {
    codec: Py<Codec>,
    kind: Kind,
}

/// A generated class with exactly one global element: its codec and the element's index in the document grammar
/// (a value of `Registry.targets`).
#[pyclass(frozen, module = "evcc._exi")]
struct Target {
    codec: Py<Codec>,
    index: usize,
}

/// The entry points `evcc.exi.decode` and `evcc.exi.encode` without a Python frame: a grammar id or a message class
/// leads to its codec through a dict; what is not registered yet (or is an error) goes to the Python functions
/// given at construction, which load codecs and register them (`add_grammar`, `add_codec`).
#[pyclass(frozen, module = "evcc._exi")]
struct Registry {
    /// grammar id -> Grammar
    grammars: Py<PyDict>,
    /// generated class -> Target
    targets: Py<PyDict>,
    /// `load(grammar)`: registers the grammar id or raises the API's error for it.
    load: PyObject,
    /// `encode_other(message, element)`: the encoding of everything `encode` does not find in `targets`.
    encode_other: PyObject,
    /// The last grammar id `decode` found, and the last class `encode` found (see `Memo`).
    last_grammar: Memo<Kind>,
    last_target: Memo<usize>,
}

/// The last entry a `Registry` lookup found: the charge loop decodes and encodes the same few message types every
/// cycle, and the same key object (a grammar id constant, a class) finds its entry again by identity, without the
/// dict lookup and the entry's type check. The memo holds its key, so a key's address cannot be reused by another
/// object while it is remembered; a key found by equality only, or a re-entrant call, goes through the dict.
struct Memo<V: Copy>(GILProtected<RefCell<MemoEntry<V>>>);

/// A remembered key with its codec and what else the lookup gave.
type MemoEntry<V> = Option<(PyObject, Py<Codec>, V)>;

impl<V: Copy> Memo<V> {
    fn new() -> Memo<V> {
        Memo(GILProtected::new(RefCell::new(None)))
    }

    /// The codec as a `Bound` (its reference is released without `Py`'s check of the GIL on drop).
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> Option<(Bound<'py, Codec>, V)> {
        let last = self.0.get(py).try_borrow().ok()?;
        match &*last {
            Some((k, codec, v)) if k.as_ptr() == key.as_ptr() => Some((codec.bind(py).clone(), *v)),
            _ => None,
        }
    }

    fn set(&self, py: Python<'_>, entry: MemoEntry<V>) {
        if let Ok(mut last) = self.0.get(py).try_borrow_mut() {
            let old = std::mem::replace(&mut *last, entry);
            drop(last);
            // Released after the borrow ends (dropping a reference may run Python code).
            drop(old);
        }
    }
}

#[pymethods]
impl Registry {
    #[new]
    fn new(py: Python<'_>, load: PyObject, encode_other: PyObject) -> Registry {
        Registry {
            grammars: PyDict::new(py).unbind(),
            targets: PyDict::new(py).unbind(),
            load,
            encode_other,
            last_grammar: Memo::new(),
            last_target: Memo::new(),
        }
    }

    /// Register a grammar id: decoding with it uses `codec` (its fragment grammar when `fragment`).
    fn add_grammar(&self, py: Python<'_>, grammar: &Bound<'_, PyString>, codec: Py<Codec>, fragment: bool) -> PyResult<()> {
        self.last_grammar.set(py, None);
        self.grammars.bind(py).set_item(grammar, Grammar { codec, kind: kind_of(fragment) })
    }

    /// Register the classes of a codec whose schema set has a document grammar (`document`): each class that is
    /// the type of exactly one global element is encoded as that element.
    fn add_codec(&self, py: Python<'_>, codec: Bound<'_, Codec>, document: bool) -> PyResult<()> {
        if !document {
            return Ok(());
        }
        self.last_target.set(py, None);
        let c = codec.get();
        let targets = self.targets.bind(py);
        for (ty, cls) in c.classes.iter().enumerate() {
            let mut of_type = c.schema.document.iter().enumerate().filter(|(_, d)| d.c == Child::Complex(ty as u16));
            if let (Some((index, _)), None) = (of_type.next(), of_type.next()) {
                targets.set_item(cls.bind(py), Target { codec: codec.clone().unbind(), index })?;
            }
        }
        Ok(())
    }

    /// Decode an EXI document (no V2GTP header) with a grammar; returns the root element's value.
    fn decode<'py>(&self, py: Python<'py>, grammar: &Bound<'py, PyAny>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        if let Some((codec, kind)) = self.last_grammar.get(py, grammar) {
            return codec.get().decode_value_at(py, data, kind);
        }
        let grammars = self.grammars.bind(py);
        let entry = match grammars.get_item(grammar)? {
            Some(entry) => entry,
            None => {
                self.load.bind(py).call1((grammar,))?;
                grammars.get_item(grammar)?.ok_or_else(|| PyKeyError::new_err("grammar not registered"))?
            }
        };
        let g = entry.downcast::<Grammar>()?.get();
        self.last_grammar.set(py, Some((grammar.clone().unbind(), g.codec.clone_ref(py), g.kind)));
        g.codec.get().decode_value_at(py, data, g.kind)
    }

    /// Encode a message object as an EXI document of its schema set's document grammar.
    #[pyo3(signature = (message, element=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
        element: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if element.is_none() {
            let class = message.get_type().into_any();
            if let Some((codec, index)) = self.last_target.get(py, &class) {
                return Ok(codec.get().encode_at(py, Kind::Document, index, message, false)?.into_any());
            }
            if let Some(target) = self.targets.bind(py).get_item(&class)? {
                let t = target.downcast::<Target>()?.get();
                self.last_target.set(py, Some((class.unbind(), t.codec.clone_ref(py), t.index)));
                return Ok(t.codec.get().encode_at(py, Kind::Document, t.index, message, false)?.into_any());
            }
        }
        self.encode_other.bind(py).call1((message, element))
    }
}

impl Codec {
    fn decode_value_at<'py>(&self, py: Python<'py>, data: &[u8], kind: Kind) -> PyResult<Bound<'py, PyAny>> {
        let (index, value) = exi_core::decode(self.schema, kind, data, self.limits).map_err(|e| self.err(py, e))?;
        self.to_py(py, kind.decls(self.schema)[index].c, &value)
    }

    /// Encode `value` as entry `index` of the document or fragment grammar.
    fn encode_at<'py>(
        &self,
        py: Python<'py>,
        kind: Kind,
        index: usize,
        value: &Bound<'py, PyAny>,
        empty_value_as_ee: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let decl = &kind.decls(self.schema)[index];
        // The tree of the last encoding of this root type (taken out for this call; a concurrent call, or a root of
        // simple type, starts from an empty one).
        let slot = match decl.c {
            Child::Complex(t) => Some(t as usize),
            Child::Simple(_) => None,
        };
        let mut trees = self.trees.get(py).try_borrow_mut().ok();
        let mut v = match (&mut trees, slot) {
            (Some(trees), Some(t)) => {
                if trees.len() != self.schema.types.len() {
                    trees.resize_with(self.schema.types.len(), || Value::Bool(false));
                }
                std::mem::replace(&mut trees[t], Value::Bool(false))
            }
            _ => Value::Bool(false),
        };
        drop(trees);
        if let Err(e) = self.update_value(&mut v, decl.c, value) {
            return Err(self.err(py, e.within(self.schema.qnames[decl.q as usize].local)));
        }
        let style = exi_core::encode::Style { string_table_hits: false, empty_value_as_ee };
        let bytes = match kind {
            Kind::Document => exi_core::encode::encode_document_styled(self.schema, index, &v, style),
            Kind::Fragment => exi_core::encode::encode_fragment_styled(self.schema, index, &v, style),
        };
        if let (Some(t), Ok(b)) = (slot, &bytes) {
            if b.len() <= KEEP_TREE_UP_TO {
                if let Ok(mut trees) = self.trees.get(py).try_borrow_mut() {
                    if let Some(keep) = trees.get_mut(t) {
                        *keep = v;
                    }
                }
            }
        }
        Ok(PyBytes::new(py, &bytes.map_err(|e| self.err(py, e))?))
    }

    fn err(&self, py: Python<'_>, e: exi_core::Error) -> PyErr {
        let args = (e.to_string(), e.path_text(), e.bit);
        match self.error.bind(py).call1(args) {
            Ok(obj) => PyErr::from_value(obj),
            Err(other) => other,
        }
    }

    fn to_py<'py>(&self, py: Python<'py>, c: Child, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        Ok(match v {
            Value::Node(n) => self.node_to_py(py, n)?.into_any(),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Int(i) => int_to_py(py, *i)?,
            Value::Big(b) => {
                let mag = PyBytes::new(py, &b.magnitude);
                let n = self.int_from_bytes.bind(py).call1((mag, "big"))?;
                if b.negative {
                    n.call_method0("__neg__")?
                } else {
                    n
                }
            }
            Value::Str(s) => PyString::new(py, s).into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::Enum(i) => match c {
                Child::Simple(d) => self.enum_values[d as usize][*i as usize].bind(py).clone().into_any(),
                Child::Complex(_) => py.None().into_bound(py),
            },
        })
    }

    /// A decoded instance: made without `__init__` (the decoder's values are valid by construction), with its
    /// item array allocated once at the type's field count, then filled in field order.
    fn node_to_py<'py>(&self, py: Python<'py>, n: &Node) -> PyResult<Bound<'py, PyList>> {
        let ty = n.ty as usize;
        let td = &self.schema.types[ty];
        let list = self.classes[ty].new_instance(py, self.no_args.bind(py), td.fields.len())?;
        // Every field: a repeated one past the node's slots (absent) still becomes an empty list. The charge
        // loop's cases (an absent field, a single integer or node) inline, the rest out of line.
        let fields = &td.fields[..];
        for (i, fd) in fields.iter().enumerate() {
            let slot = n.field(i);
            let o = if fd.repeated {
                self.repeated_to_py(py, fd.child, slot)?
            } else {
                match slot {
                    Slot::Absent => py.None().into_bound(py),
                    Slot::One(Value::Node(child)) => self.node_to_py(py, child)?.into_any(),
                    Slot::One(Value::Int(v)) => int_to_py(py, *v)?,
                    Slot::One(v) => self.to_py(py, fd.child, v)?,
                    // A value list in the slot of a single field (the decoder never makes one) stays a list.
                    Slot::Many(_) => self.repeated_to_py(py, fd.child, slot)?,
                }
            };
            fast::append_owned(&list, o)?;
        }
        Ok(list)
    }

    /// The list of a repeated field's values (empty when absent).
    #[inline(never)]
    fn repeated_to_py<'py>(&self, py: Python<'py>, c: Child, slot: &Slot) -> PyResult<Bound<'py, PyAny>> {
        Ok(match slot {
            Slot::Absent => PyList::empty(py).into_any(),
            Slot::One(v) => PyList::new(py, [self.to_py(py, c, v)?])?.into_any(),
            Slot::Many(vs) => {
                let items = vs.iter().map(|v| self.to_py(py, c, v)).collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)?.into_any()
            }
        })
    }

    /// Make `v` the value of `obj` as child `c`, reusing what `v` holds (nodes of the same type, byte and string
    /// buffers); on error `v` is left a valid but partial value.
    fn update_value(&self, v: &mut Value, c: Child, obj: &Bound<'_, PyAny>) -> CoreResult<()> {
        match c {
            Child::Complex(t) => {
                if !matches!(v, Value::Node(n) if n.ty == t) {
                    *v = Value::Node(Node::new(t, self.schema.types[t as usize].fields.len()));
                }
                match v {
                    Value::Node(n) => self.update_node(n, obj),
                    _ => unreachable!("set just above"),
                }
            }
            Child::Simple(d) => self.update_simple(v, d, obj),
        }
    }

    /// Update the fields of `node` (of its type, with that type's field count) from the generated object `obj`.
    fn update_node(&self, node: &mut Node, obj: &Bound<'_, PyAny>) -> CoreResult<()> {
        let ty = node.ty as usize;
        let td = &self.schema.types[ty];
        let cls = &self.classes[ty];
        // The generated class itself (the usual case) by pointer; a subclass by isinstance.
        let list = match cls.exact_instance(obj) {
            Some(list) => list,
            None => {
                if !obj.is_instance(cls.bind(obj.py())).unwrap_or(false) {
                    let got = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                    return Err(exi_core::Error::new(format!("expected a {} object, got {got}", td.name), 0));
                }
                obj.downcast::<PyList>()
                    .map_err(|_| exi_core::Error::new(format!("{} object is not a generated message", td.name), 0))?
            }
        };
        let n = td.fields.len();
        if list.len() != n {
            return Err(exi_core::Error::new(format!("{} object has {} fields, expected {n}", td.name, list.len()), 0));
        }
        if node.fields.len() != n {
            // A node of another length (a short decoded one, or longer than the type): exactly one slot per field.
            node.fields.resize_with(n, || Slot::Absent);
        }
        // An indexed loop with the charge loop's cases inline (a scalar over a value of the same kind, a node over
        // a node of its type) and everything else through `update_field`, out of line, so that the loop's state stays
        // in registers.
        let fields = &td.fields[..n];
        let slots = &mut node.fields[..n];
        for i in 0..n {
            let fd = &fields[i];
            let slot = &mut slots[i];
            if !fd.repeated {
                match (fd.child, &mut *slot) {
                    (Child::Simple(d), Slot::One(v)) => {
                        let d = d as usize;
                        let scalar = Some((v, &self.schema.datatypes[d], self.enum_values[d].as_slice()));
                        match fast::field(list, i, scalar).map_err(|_| vanished())? {
                            fast::Field::Done => continue,
                            fast::Field::Absent => {
                                *slot = Slot::Absent;
                                continue;
                            }
                            fast::Field::Item(attr) => {
                                self.update_field(fd, slot, &attr)?;
                                continue;
                            }
                        }
                    }
                    (Child::Complex(t), Slot::One(Value::Node(child))) if child.ty == t => {
                        match fast::field(list, i, None).map_err(|_| vanished())? {
                            fast::Field::Item(attr) => {
                                self.update_node(child, &attr).map_err(|e| e.within(fd.name))?;
                                continue;
                            }
                            fast::Field::Absent => {
                                *slot = Slot::Absent;
                                continue;
                            }
                            fast::Field::Done => continue,
                        }
                    }
                    _ => {}
                }
            }
            // Every other case (a repeated field, a slot of another kind): the item read once, handled out of line.
            match fast::field(list, i, None).map_err(|_| vanished())? {
                fast::Field::Item(attr) => self.update_field(fd, slot, &attr)?,
                fast::Field::Absent | fast::Field::Done => {
                    if !matches!(slot, Slot::Absent) {
                        *slot = Slot::Absent;
                    }
                }
            }
        }
        Ok(())
    }

    /// `slot` := the field value `attr` (not `None`), reusing what the slot holds.
    #[inline(never)]
    fn update_field(&self, fd: &FieldDef, slot: &mut Slot, attr: &Bound<'_, PyAny>) -> CoreResult<()> {
        let wrap = |e: exi_core::Error| e.within(fd.name);
        if fd.repeated {
            let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = attr.downcast::<PyList>() {
                l.iter().collect()
            } else if let Ok(tuple) = attr.downcast::<PyTuple>() {
                tuple.iter().collect()
            } else {
                return Err(wrap(exi_core::Error::new("a repeated element needs a list", 0)));
            };
            if items.is_empty() {
                *slot = Slot::Absent;
                return Ok(());
            }
            if !matches!(slot, Slot::Many(_)) {
                *slot = Slot::Many(Vec::with_capacity(items.len()));
            }
            let Slot::Many(values) = slot else { unreachable!("set just above") };
            values.truncate(items.len());
            for (k, it) in items.iter().enumerate() {
                if k == values.len() {
                    values.push(Value::Bool(false));
                }
                if let Err(e) = self.update_value(&mut values[k], fd.child, it) {
                    // Not a value the encoder may see (the tree is dropped with the error).
                    return Err(wrap(e));
                }
            }
        } else {
            if !matches!(slot, Slot::One(_)) {
                *slot = Slot::One(Value::Bool(false));
            }
            let Slot::One(value) = slot else { unreachable!("set just above") };
            self.update_value(value, fd.child, attr).map_err(wrap)?;
        }
        Ok(())
    }

    /// `v` := the value of `obj` as datatype `d` (string and byte buffers reused).
    fn update_simple(&self, v: &mut Value, d: u16, obj: &Bound<'_, PyAny>) -> CoreResult<()> {
        let dt = &self.schema.datatypes[d as usize];
        if fast::scalar_in_place(v, dt, &self.enum_values[d as usize], obj) {
            return Ok(());
        }
        if let (Datatype::String { .. }, Value::Str(buf)) = (dt, &mut *v) {
            if let Ok(s) = obj.downcast_exact::<PyString>() {
                if let Ok(text) = s.to_str() {
                    buf.clear();
                    buf.push_str(text);
                    return Ok(());
                }
            }
        }
        *v = self.simple_from_py(d, obj)?;
        Ok(())
    }

    fn simple_from_py(&self, d: u16, obj: &Bound<'_, PyAny>) -> CoreResult<Value> {
        let bad = |what: &str| {
            let got = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            exi_core::Error::new(format!("expected {what}, got {got}"), 0)
        };
        match &self.schema.datatypes[d as usize] {
            Datatype::Boolean => obj.downcast::<PyBool>().map(|b| Value::Bool(b.is_true())).map_err(|_| bad("a bool")),
            Datatype::String { .. } => obj.extract::<String>().map(Value::Str).map_err(|_| bad("a str")),
            Datatype::Binary { .. } => {
                if let Ok(b) = obj.downcast_exact::<PyBytes>() {
                    Ok(Value::Bytes(b.as_bytes().to_vec()))
                } else if let Ok(b) = obj.downcast::<PyBytes>() {
                    Ok(Value::Bytes(b.as_bytes().to_vec()))
                } else if let Ok(b) = obj.downcast::<PyByteArray>() {
                    Ok(Value::Bytes(b.to_vec()))
                } else {
                    Err(bad("bytes"))
                }
            }
            Datatype::NBitInt { .. } | Datatype::UnsignedInt { .. } | Datatype::SignedInt { .. } => {
                // An exact int by its type pointer first (an int is not a bool, whose check would walk int's MRO).
                if !obj.is_exact_instance_of::<PyInt>() && (obj.is_exact_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>()) {
                    return Err(bad("an int"));
                }
                if let Ok(i) = obj.extract::<i64>() {
                    return Ok(Value::int(i128::from(i)));
                }
                if let Ok(i) = obj.extract::<i128>() {
                    return Ok(Value::int(i));
                }
                big_from_py(obj).ok_or_else(|| bad("an int"))
            }
            Datatype::Enum { values, .. } => {
                // Decoded values are the interned strings themselves: find them by identity first.
                if let Some(i) = self.enum_values[d as usize].iter().position(|v| v.as_ptr() == obj.as_ptr()) {
                    return Ok(Value::Enum(i as u16));
                }
                let s = obj.downcast::<PyString>().map_err(|_| bad("an enumeration value (str)"))?;
                let text = s.to_str().map_err(|_| bad("an enumeration value (str)"))?;
                if let Some(i) = values.iter().position(|v| *v == text) {
                    return Ok(Value::Enum(i as u16));
                }
                let text = text.to_string();
                values
                    .iter()
                    .position(|v| *v == text)
                    .map(|i| Value::Enum(i as u16))
                    .ok_or_else(|| exi_core::Error::new(format!("{text:?} is not one of {values:?}"), 0))
            }
        }
    }
}

/// An integer value as a Python int. Nearly every integer fits 64 bits: PyLong_FromLongLong instead of the 128-bit
/// conversion.
#[inline(always)]
fn int_to_py(py: Python<'_>, i: exi_core::Int) -> PyResult<Bound<'_, PyAny>> {
    Ok(match i64::try_from(i.get()) {
        Ok(small) => small.into_pyobject(py)?.into_any(),
        Err(_) => i.get().into_pyobject(py)?.into_any(),
    })
}

/// The error of a field index past the object's items (its length was checked: only Python code run meanwhile can
/// shorten it).
fn vanished() -> exi_core::Error {
    exi_core::Error::new("field vanished", 0)
}

fn big_from_py(obj: &Bound<'_, PyAny>) -> Option<Value> {
    let negative = obj.lt(0).ok()?;
    let abs = obj.call_method0("__abs__").ok()?;
    let nbits: usize = abs.call_method0("bit_length").ok()?.extract().ok()?;
    let kwargs = PyDict::new(obj.py());
    let bytes = abs.call_method("to_bytes", ((nbits + 7) / 8, "big"), Some(&kwargs)).ok()?;
    let magnitude = bytes.downcast::<PyBytes>().ok()?.as_bytes().to_vec();
    Some(Value::big(BigInt { negative, magnitude }))
}

/// Element name -> its first index among `decls` (names are unique in a grammar's entries).
fn index_of(schema: &'static Schema, decls: &'static [exi_core::tables::Decl]) -> HashMap<&'static str, usize> {
    let mut map = HashMap::with_capacity(decls.len());
    for (i, d) in decls.iter().enumerate() {
        map.entry(schema.qnames[d.q as usize].local).or_insert(i);
    }
    map
}

fn schema_by_module(id: &str) -> Option<&'static Schema> {
    use exi_core::generated::*;
    Some(match id {
        "sap" => &sap::SCHEMA,
        "din" => &din::SCHEMA,
        "iso2" => &iso2::SCHEMA,
        "xmldsig" => &xmldsig::SCHEMA,
        "iso20_common" => &iso20_common::SCHEMA,
        "iso20_ac" => &iso20_ac::SCHEMA,
        "iso20_dc" => &iso20_dc::SCHEMA,
        "iso20_wpt" => &iso20_wpt::SCHEMA,
        "iso20_acdp" => &iso20_acdp::SCHEMA,
        _ => return None,
    })
}

/// Names of the generated schema sets.
#[pyfunction]
fn schema_sets() -> Vec<&'static str> {
    vec!["sap", "din", "iso2", "xmldsig", "iso20_common", "iso20_ac", "iso20_dc", "iso20_wpt", "iso20_acdp"]
}

#[pymodule]
fn _exi(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Codec>()?;
    m.add_class::<Registry>()?;
    m.add_function(wrap_pyfunction!(schema_sets, m)?)?;
    m.add_function(wrap_pyfunction!(bench::core_time, m)?)?;
    Ok(())
}
