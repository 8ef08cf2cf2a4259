//! Every vector of ../shared/vectors/exi_vectors.tsv behaves as its `expect` column says (EXI.md §5).

use exi_core::{decode, encode, grammar, json::decode_hex, to_json, Limits};
use std::path::PathBuf;

fn vectors() -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/exi_vectors.tsv");
    std::fs::read_to_string(p).ok()
}

fn normalise_json(text: &str) -> serde_json::Value {
    fn walk(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(s.to_uppercase()),
            serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(walk).collect()),
            serde_json::Value::Object(o) => serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, walk(v))).collect()),
            other => other,
        }
    }
    walk(serde_json::from_str(text).expect("json"))
}

#[test]
fn shared_vectors() {
    let Some(text) = vectors() else {
        eprintln!("SKIPPED: ../shared/vectors/exi_vectors.tsv is absent");
        return;
    };
    let mut failures = Vec::new();
    let mut counted = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 6 {
            continue;
        }
        let (id, gid, msg, hex, expect, json) = (cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]);
        let (s, kind) = grammar(gid).expect("grammar id");
        let data = decode_hex(hex).expect("hex");
        counted += 1;
        let res = decode(s, kind, &data, Limits::default());
        let ok = match expect {
            "roundtrip" | "trailing" => match &res {
                Ok((i, v)) => {
                    let want: Vec<u8> = if expect == "trailing" {
                        let mut d = data.clone();
                        while d.last() == Some(&0) && d.len() > 1 {
                            d.pop();
                        }
                        // keep the padding byte that belongs to the stream itself
                        let enc = encode(s, kind, *i, v).unwrap_or_default();
                        if enc.len() > d.len() { data[..enc.len()].to_vec() } else { d }
                    } else {
                        data.clone()
                    };
                    match encode(s, kind, *i, v) {
                        Ok(enc) if enc == want => {
                            if !json.is_empty() {
                                let got = to_json(s, kind, &data, Limits::default()).unwrap();
                                if normalise_json(&got) != normalise_json(json) {
                                    Err(format!("json differs:\n got {got}\nwant {json}"))
                                } else {
                                    Ok(())
                                }
                            } else {
                                Ok(())
                            }
                        }
                        Ok(enc) => Err(format!("re-encoded differs:\n got {}\nwant {}", hexs(&enc), hexs(&want))),
                        Err(e) => Err(format!("re-encode failed: {e}")),
                    }
                }
                Err(e) => Err(format!("decode failed: {e}")),
            },
            "decode" => res.map(|_| ()).map_err(|e| format!("decode failed: {e}")),
            "reject" => match res {
                Ok(_) => Err("decoded but must be rejected".to_string()),
                Err(_) => Ok(()),
            },
            "nonconformant" => match res {
                Ok((i, v)) => match encode(s, kind, i, &v) {
                    Ok(enc) if enc == data => Err("our encoder produces the non-conformant bytes".to_string()),
                    _ => Ok(()),
                },
                Err(_) => Ok(()),
            },
            other => Err(format!("unknown expect {other}")),
        };
        if let Err(why) = ok {
            failures.push(format!("#{id} {gid} {msg} ({expect}): {why}"));
        }
    }
    assert!(counted > 200, "too few vectors read: {counted}");
    if !failures.is_empty() {
        panic!("{} of {counted} vectors failed:\n{}", failures.len(), failures.join("\n"));
    }
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
