//! Nodes that hold fewer slots than their type has fields (value.rs: the missing trailing slots are absent).
//! A decoded choice (an ISO 15118-2 message body, one element of 35) holds only the slots up to the chosen
//! element, in the generated decoders and in the interpreter; such a node equals, and encodes like, the same
//! node with every slot; a node with more slots than its type has fields is refused.

use exi_core::arbitrary::{generate, Rng};
use exi_core::decode::{decode_document_counted, decode_document_interpreted};
use exi_core::encode::encode_document_interpreted;
use exi_core::{grammar, Node, Schema, Slot, Value};

/// Every node of `v` cut after its last present slot (`pad` = 0) or given one slot per field (otherwise).
fn reshape(v: &mut Value, s: &'static Schema, pad: usize) {
    let Value::Node(n) = v else { return };
    for slot in n.fields.iter_mut() {
        match slot {
            Slot::One(inner) => reshape(inner, s, pad),
            Slot::Many(list) => list.iter_mut().for_each(|x| reshape(x, s, pad)),
            Slot::Absent => {}
        }
    }
    if pad == 0 {
        let last = n.fields.iter().rposition(|x| !matches!(x, Slot::Absent)).map_or(0, |i| i + 1);
        n.fields.truncate(last);
    } else {
        n.fields.resize_with(s.types[n.ty as usize].fields.len(), || Slot::Absent);
    }
}

fn field_index(s: &'static Schema, ty: u16, name: &str) -> usize {
    s.types[ty as usize].fields.iter().position(|f| f.name == name).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn a_decoded_message_body_holds_slots_up_to_its_element_only() {
    let (s, _) = grammar("iso2").unwrap();
    let root = s.document_index("V2G_Message").unwrap();
    let msg_ty = s.type_by_name("V2G_Message").unwrap();
    let body_ty = s.type_by_name("BodyType").unwrap();
    let body_f = field_index(s, msg_ty, "Body");
    let alternatives = s.types[body_ty as usize].fields.len();
    assert!(alternatives > 30, "BodyType has {alternatives} fields");
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..400 {
        let Some(v) = generate(s, false, root, seed) else { continue };
        let Ok(bytes) = exi_core::encode(s, exi_core::Kind::Document, root, &v) else { continue };
        let fast = decode_document_counted(s, &bytes, Default::default()).unwrap();
        let interp = decode_document_interpreted(s, &bytes, Default::default()).unwrap();
        assert_eq!(fast, interp);
        for (_, decoded, _) in [&fast, &interp] {
            let Value::Node(msg) = decoded else { panic!("not a node") };
            let Slot::One(Value::Node(body)) = msg.field(body_f) else { panic!("no Body") };
            assert_eq!(body.ty, body_ty);
            let present: Vec<usize> = (0..alternatives).filter(|&i| !matches!(body.field(i), Slot::Absent)).collect();
            match present[..] {
                [] => assert!(body.fields.is_empty(), "an empty Body holds {} slots", body.fields.len()),
                [chosen] => {
                    assert_eq!(body.fields.len(), chosen + 1, "Body with element {chosen}");
                    seen.insert(chosen);
                }
                _ => panic!("Body holds {present:?}"),
            }
        }
        // The short decoded value equals the generated one with every slot, and encodes to the same bytes.
        let mut full = fast.1.clone();
        reshape(&mut full, s, 1);
        assert_eq!(full, fast.1);
        assert_eq!(exi_core::encode(s, exi_core::Kind::Document, root, &fast.1).unwrap(), bytes);
        assert_eq!(encode_document_interpreted(s, root, &fast.1).unwrap(), bytes);
    }
    assert!(seen.len() > 10 && seen.iter().any(|&c| c > 0), "Body elements seen: {seen:?}");
}

#[test]
fn trimmed_nodes_equal_and_encode_like_full_ones() {
    let mut rng = Rng::new(0x5407_7E57);
    let mut checked = 0;
    for (id, root) in [("iso2", "V2G_Message"), ("iso20-dc", "DC_ChargeLoopReq"), ("iso20-dc", "DC_ChargeLoopRes"), ("din", "V2G_Message")] {
        let (s, kind) = grammar(id).unwrap();
        let index = s.document_index(root).unwrap();
        for _ in 0..150 {
            let Some(v) = generate(s, false, index, rng.next()) else { continue };
            let mut short = v.clone();
            reshape(&mut short, s, 0);
            assert_eq!(short, v);
            assert_eq!(v, short);
            let want = exi_core::encode(s, kind, index, &v);
            assert_eq!(exi_core::encode(s, kind, index, &short), want, "{id} {root}");
            assert_eq!(encode_document_interpreted(s, index, &short), want, "{id} {root}");
            checked += u32::from(want.is_ok());
        }
    }
    assert!(checked > 400, "{checked} encoded");
}

#[test]
fn node_equality_reads_missing_trailing_slots_as_absent() {
    let mut full = Node::new(7, 4);
    *full.field_mut(1) = Slot::One(Value::int(5));
    let mut short = Node::new(7, 0);
    *short.field_mut(1) = Slot::One(Value::int(5));
    assert_eq!(short.fields.len(), 2);
    assert_eq!(short, full);
    assert_eq!(full, short);
    assert!(matches!(short.field(3), Slot::Absent));
    *full.field_mut(3) = Slot::One(Value::Bool(true));
    assert_ne!(short, full);
    assert_ne!(full, short);
    assert_ne!(Node::new(7, 0), Node::new(8, 0));
    assert_eq!(Node::new(7, 0), Node::new(7, 5));
}

#[test]
fn a_node_with_more_slots_than_fields_is_refused() {
    let (s, kind) = grammar("iso2").unwrap();
    let root = s.document_index("V2G_Message").unwrap();
    let v = (0..50).find_map(|seed| generate(s, false, root, seed)).unwrap();
    let Value::Node(mut msg) = v else { panic!("not a node") };
    let n = s.types[msg.ty as usize].fields.len();
    msg.fields.resize_with(n + 1, || Slot::Absent);
    let v = Value::Node(msg);
    for err in [exi_core::encode(s, kind, root, &v).unwrap_err(), encode_document_interpreted(s, root, &v).unwrap_err()] {
        assert!(err.to_string().contains(&format!("at most {n} fields")), "{err}");
    }
}
