//! AFL++ target: the iso2 decoder with the product's limits (exi_fuzz::harness::decode).
exi_fuzz::decode_target!("iso2");
