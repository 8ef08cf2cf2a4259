//! AFL++ target: the iso20-common-fragment decoder with the product's limits (exi_fuzz::harness::decode).
exi_fuzz::decode_target!("iso20-common-fragment");
