//! `evcc._exi`: the thin PyO3 face of the EXI core. A `Codec` per schema set converts between the core's value
//! tree and the generated Python message classes; errors become the Python-side `ExiError` given at
//! construction, with the element path and bit offset.
#![deny(unsafe_code)]

use std::collections::HashMap;

use exi_core::tables::{Child, Datatype, Schema};
use exi_core::{BigInt, Kind, Limits, Node, Slot, Value};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple, PyType};

/// Types with at least this many fields start a decoded instance from a tuple of `None`s instead of appending
/// each field.
const BLANK_FROM: usize = 8;

/// Encoding errors raised while reading Python objects: the core error type, built with a path.
type CoreResult<T> = Result<T, exi_core::Error>;

#[pyclass(frozen, module = "evcc._exi")]
struct Codec {
    schema: &'static Schema,
    classes: Vec<Py<PyType>>,
    enum_values: Vec<Vec<Py<PyString>>>,
    /// The qnames' local names, interned once.
    names: Vec<Py<PyString>>,
    /// Element name -> index in the document grammar and in the fragment grammar.
    document_index: HashMap<&'static str, usize>,
    fragment_index: HashMap<&'static str, usize>,
    /// Per type with many fields: a tuple of as many `None`s, the start of a decoded instance (see `node_to_py`).
    blanks: Vec<Option<Py<PyTuple>>>,
    object_new: PyObject,
    int_from_bytes: PyObject,
    error: Py<PyType>,
    limits: Limits,
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
            classes: classes.into_iter().map(Bound::unbind).collect(),
            enum_values,
            names: schema.qnames.iter().map(|q| PyString::intern(py, q.local).unbind()).collect(),
            document_index: index_of(schema, schema.document),
            fragment_index: index_of(schema, schema.fragment),
            blanks: schema
                .types
                .iter()
                .map(|t| {
                    (t.fields.len() >= BLANK_FROM)
                        .then(|| PyTuple::new(py, t.fields.iter().map(|_| py.None())).map(Bound::unbind))
                        .transpose()
                })
                .collect::<PyResult<_>>()?,
            object_new: builtins.getattr("list")?.getattr("__new__")?.unbind(),
            int_from_bytes: builtins.getattr("int")?.getattr("from_bytes")?.unbind(),
            error: error_type.unbind(),
            limits: Limits { max_input, max_depth },
        })
    }

    /// Decode a document (`fragment=False`) or a one-element fragment: returns `(element name, value)`.
    #[pyo3(signature = (data, fragment=false))]
    fn decode<'py>(&self, py: Python<'py>, data: &[u8], fragment: bool) -> PyResult<(Py<PyString>, PyObject)> {
        let kind = kind_of(fragment);
        let (index, value) = exi_core::decode(self.schema, kind, data, self.limits).map_err(|e| self.err(py, e))?;
        let decl = &kind.decls(self.schema)[index];
        let obj = self.to_py(py, decl.c, &value)?;
        Ok((self.names[decl.q as usize].clone_ref(py), obj))
    }

    /// As `decode`, returning only the value (what `evcc.exi.decode` gives).
    #[pyo3(signature = (data, fragment=false))]
    fn decode_value(&self, py: Python<'_>, data: &[u8], fragment: bool) -> PyResult<PyObject> {
        let kind = kind_of(fragment);
        let (index, value) = exi_core::decode(self.schema, kind, data, self.limits).map_err(|e| self.err(py, e))?;
        self.to_py(py, kind.decls(self.schema)[index].c, &value)
    }

    /// As `decode`, also returning how many empty values came as a second-level EE (EXIficient's form, which
    /// the decoder tolerates: EXI.md §1): `(element name, value, empty_value_as_ee)`.
    #[pyo3(signature = (data, fragment=false))]
    fn decode_counted<'py>(&self, py: Python<'py>, data: &[u8], fragment: bool) -> PyResult<(Py<PyString>, PyObject, u32)> {
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
        let decls = kind.decls(self.schema);
        let by_name = if fragment { &self.fragment_index } else { &self.document_index };
        let index = *by_name
            .get(name)
            .ok_or_else(|| self.err(py, exi_core::Error::new(format!("{name} is not an element of this grammar"), 0)))?;
        let decl = &decls[index];
        let v = self.from_py(decl.c, value).map_err(|e| self.err(py, e.within(self.schema.qnames[decl.q as usize].local)))?;
        let style = exi_core::encode::Style { string_table_hits: false, empty_value_as_ee };
        let bytes = match kind {
            Kind::Document => exi_core::encode::encode_document_styled(self.schema, index, &v, style),
            Kind::Fragment => exi_core::encode::encode_fragment_styled(self.schema, index, &v, style),
        }
        .map_err(|e| self.err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
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
    fn sample(&self, py: Python<'_>, name: &str, seed: u64, fragment: bool, empty_values: bool) -> PyResult<PyObject> {
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
            None => Ok(py.None()),
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

impl Codec {
    fn err(&self, py: Python<'_>, e: exi_core::Error) -> PyErr {
        let args = (e.to_string(), e.path_text(), e.bit);
        match self.error.bind(py).call1(args) {
            Ok(obj) => PyErr::from_value(obj),
            Err(other) => other,
        }
    }

    fn to_py(&self, py: Python<'_>, c: Child, v: &Value) -> PyResult<PyObject> {
        Ok(match v {
            Value::Node(n) => self.node_to_py(py, n)?,
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
            // Nearly every integer fits 64 bits: PyLong_FromLongLong instead of the 128-bit conversion.
            Value::Int(i) => match i64::try_from(*i) {
                Ok(small) => small.into_pyobject(py)?.into_any().unbind(),
                Err(_) => i.into_pyobject(py)?.into_any().unbind(),
            },
            Value::Big(b) => {
                let mag = PyBytes::new(py, &b.magnitude);
                let n = self.int_from_bytes.call1(py, (mag, "big"))?;
                if b.negative {
                    n.call_method0(py, "__neg__")?
                } else {
                    n
                }
            }
            Value::Str(s) => PyString::new(py, s).into_any().unbind(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
            Value::Enum(i) => match c {
                Child::Simple(d) => self.enum_values[d as usize][*i as usize].clone_ref(py).into_any(),
                Child::Complex(_) => py.None(),
            },
        })
    }

    fn node_to_py(&self, py: Python<'_>, n: &Node) -> PyResult<PyObject> {
        let ty = n.ty as usize;
        // The instance without `__init__` (list.__new__(cls)), then its fields appended in schema order.
        let obj = self.object_new.call1(py, (self.classes[ty].clone_ref(py),))?;
        let list = obj.bind(py).downcast::<PyList>()?;
        let td = &self.schema.types[ty];
        if let Some(blank) = &self.blanks[ty] {
            // Many fields, most of them absent (a BodyType holds one of its messages): all `None` in one
            // concatenation, then only the fields that are not `None`.
            list.as_sequence().in_place_concat(blank.bind(py).as_sequence())?;
            for (i, (fd, slot)) in td.fields.iter().zip(&n.fields).enumerate() {
                let o = match slot {
                    Slot::Absent if fd.repeated => PyList::empty(py).into_any(),
                    Slot::Absent => continue,
                    Slot::One(v) => {
                        let o = self.to_py(py, fd.child, v)?;
                        if fd.repeated {
                            PyList::new(py, [o])?.into_any()
                        } else {
                            o.into_bound(py)
                        }
                    }
                    Slot::Many(vs) => {
                        let items: Vec<PyObject> = vs.iter().map(|v| self.to_py(py, fd.child, v)).collect::<PyResult<_>>()?;
                        PyList::new(py, items)?.into_any()
                    }
                };
                list.set_item(i, o)?;
            }
            return Ok(obj);
        }
        for (fd, slot) in td.fields.iter().zip(&n.fields) {
            match slot {
                Slot::Absent if fd.repeated => list.append(PyList::empty(py))?,
                Slot::Absent => list.append(py.None())?,
                Slot::One(v) => {
                    let o = self.to_py(py, fd.child, v)?;
                    if fd.repeated {
                        list.append(PyList::new(py, [o])?)?
                    } else {
                        list.append(o)?
                    }
                }
                Slot::Many(vs) => {
                    let items: Vec<PyObject> = vs.iter().map(|v| self.to_py(py, fd.child, v)).collect::<PyResult<_>>()?;
                    list.append(PyList::new(py, items)?)?
                }
            }
        }
        Ok(obj)
    }

    fn from_py(&self, c: Child, obj: &Bound<'_, PyAny>) -> CoreResult<Value> {
        match c {
            Child::Complex(t) => self.node_from_py(t, obj).map(|n| Value::Node(n)),
            Child::Simple(d) => self.simple_from_py(d, obj),
        }
    }

    fn node_from_py(&self, t: u16, obj: &Bound<'_, PyAny>) -> CoreResult<Node> {
        let py = obj.py();
        let ty = t as usize;
        let cls = self.classes[ty].bind(py);
        let td = &self.schema.types[ty];
        if !obj.get_type().is(cls) && !obj.is_instance(cls).unwrap_or(false) {
            let got = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(exi_core::Error::new(format!("expected a {} object, got {got}", td.name), 0));
        }
        let list = obj
            .downcast::<PyList>()
            .map_err(|_| exi_core::Error::new(format!("{} object is not a generated message", td.name), 0))?;
        if list.len() != td.fields.len() {
            return Err(exi_core::Error::new(format!("{} object has {} fields, expected {}", td.name, list.len(), td.fields.len()), 0));
        }
        let mut node = Node::new(t, td.fields.len());
        for (i, fd) in td.fields.iter().enumerate() {
            let attr = list.get_item(i).map_err(|_| exi_core::Error::new("field vanished", 0))?;
            if attr.is_none() {
                continue;
            }
            let wrap = |e: exi_core::Error| e.within(fd.name);
            node.fields[i] = if fd.repeated {
                let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = attr.downcast::<PyList>() {
                    l.iter().collect()
                } else if let Ok(tuple) = attr.downcast::<PyTuple>() {
                    tuple.iter().collect()
                } else {
                    return Err(wrap(exi_core::Error::new("a repeated element needs a list", 0)));
                };
                if items.is_empty() {
                    Slot::Absent
                } else {
                    Slot::Many(items.iter().map(|it| self.from_py(fd.child, it)).collect::<CoreResult<_>>().map_err(wrap)?)
                }
            } else {
                Slot::One(self.from_py(fd.child, &attr).map_err(wrap)?)
            };
        }
        Ok(node)
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
                if let Ok(b) = obj.downcast::<PyBytes>() {
                    Ok(Value::Bytes(b.as_bytes().to_vec()))
                } else if let Ok(b) = obj.downcast::<PyByteArray>() {
                    Ok(Value::Bytes(b.to_vec()))
                } else {
                    Err(bad("bytes"))
                }
            }
            Datatype::NBitInt { .. } | Datatype::UnsignedInt { .. } | Datatype::SignedInt { .. } => {
                if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
                    return Err(bad("an int"));
                }
                if let Ok(i) = obj.extract::<i64>() {
                    return Ok(Value::Int(i128::from(i)));
                }
                if let Ok(i) = obj.extract::<i128>() {
                    return Ok(Value::Int(i));
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

fn big_from_py(obj: &Bound<'_, PyAny>) -> Option<Value> {
    let negative = obj.lt(0).ok()?;
    let abs = obj.call_method0("__abs__").ok()?;
    let nbits: usize = abs.call_method0("bit_length").ok()?.extract().ok()?;
    let kwargs = PyDict::new(obj.py());
    let bytes = abs.call_method("to_bytes", ((nbits + 7) / 8, "big"), Some(&kwargs)).ok()?;
    let magnitude = bytes.downcast::<PyBytes>().ok()?.as_bytes().to_vec();
    Some(Value::Big(BigInt { negative, magnitude }))
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
    m.add_function(wrap_pyfunction!(schema_sets, m)?)?;
    Ok(())
}
