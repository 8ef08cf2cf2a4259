//! AFL++ target: the sap decoder with the product's limits (exi_fuzz::harness::decode).
exi_fuzz::decode_target!("sap");
