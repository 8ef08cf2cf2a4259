//! Not a fuzz target: writes the unminimised seed inputs and the dictionaries (scripts/fuzz --seed-corpus).
//! Usage: exi-seeds VECTORS_TSV OUT_DIR  ->  OUT_DIR/<target>/<name>, OUT_DIR/dict/<target>.dict
use std::fs;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: exi-seeds VECTORS_TSV OUT_DIR");
        std::process::exit(2);
    }
    let tsv = fs::read_to_string(&args[1]).unwrap_or_else(|e| {
        eprintln!("exi-seeds: cannot read {}: {e}", args[1]);
        std::process::exit(2)
    });
    let out = Path::new(&args[2]);
    let mut count = 0;
    for (target, name, bytes) in exi_fuzz::seeds::all(&tsv, 2) {
        let dir = out.join(&target);
        fs::create_dir_all(&dir).expect("create the seed folder");
        let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        fs::write(dir.join(safe), bytes).expect("write a seed");
        count += 1;
    }
    fs::create_dir_all(out.join("dict")).expect("create the dict folder");
    for (target, tokens) in exi_fuzz::seeds::dictionaries() {
        fs::write(out.join("dict").join(format!("{target}.dict")), exi_fuzz::seeds::dictionary_text(&tokens)).expect("write a dict");
    }
    println!("exi-seeds: {count} seed files in {}", out.display());
}
