//! Round trips, atomic replacement and hostile files, through the public `save`/`load`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{load, save};
use crate::tensor::{DType, Tensor};

fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A file from a header and a data section, as a hostile writer would make it.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn load_err(bytes: &[u8]) -> String {
    let (_dir, path) = scratch("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    match load(&path) {
        Err(e) => e.to_string(),
        Ok(l) => panic!("loaded {} tensors from a bad file", l.tensors.len()),
    }
}

#[test]
fn round_trip_keeps_every_dtype_shape_and_value() {
    let (dir, path) = scratch("m.safetensors");
    let base = Tensor::from_vec((0..12).map(|i| i as f64 * 0.1).collect::<Vec<f64>>(), &[3, 4]).unwrap();
    let transposed = base.view_with(crate::tensor::Layout { shape: vec![4, 3], strides: vec![1, 4], offset: 0 });
    let tensors = vec![
        ("f32".to_string(), Tensor::from_vec(vec![1.5f32, -0.0, f32::NAN, f32::INFINITY, 1e-45], &[5]).unwrap()),
        ("f64".to_string(), base),
        ("view".to_string(), transposed.clone()),
        ("i64".to_string(), Tensor::from_vec(vec![i64::MIN, -1, 0, i64::MAX], &[2, 2]).unwrap()),
        ("bool".to_string(), Tensor::from_vec(vec![true, false, true], &[3, 1]).unwrap()),
        ("scalar".to_string(), Tensor::scalar(7i64)),
        ("empty".to_string(), Tensor::zeros(&[0, 3], DType::F32)),
    ];
    let meta = HashMap::from([("k".to_string(), "{\"json\": [1, 2]}".to_string())]);
    save(&path, &tensors, &meta).unwrap();
    assert_eq!(files_in(dir.path()), ["m.safetensors"]);
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.metadata, meta);
    let got: HashMap<_, _> = loaded.tensors.into_iter().collect();
    assert_eq!(got.len(), tensors.len());
    for (name, want) in &tensors {
        let t = &got[name];
        assert_eq!((t.shape(), t.dtype()), (want.shape(), want.dtype()), "{name}");
        let (a, b) = (t.to_vec::<f64>(), want.to_vec::<f64>());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())), "{name}: {a:?} != {b:?}");
    }
    assert_eq!(got["view"].to_vec::<f64>(), transposed.to_vec::<f64>());
    assert!(got["f32"].to_vec::<f32>()[1].is_sign_negative());
}

#[test]
fn save_replaces_the_old_file_and_leaves_no_temporary() {
    let (dir, path) = scratch("ckpt.pt");
    std::fs::write(&path, b"old").unwrap();
    save(&path, &[("w".into(), Tensor::ones(&[2], DType::F32))], &HashMap::new()).unwrap();
    assert_eq!(files_in(dir.path()), ["ckpt.pt"]);
    assert_eq!(load(&path).unwrap().tensors[0].1.to_vec::<f32>(), [1.0, 1.0]);
}

#[test]
fn the_same_save_gives_the_same_bytes() {
    // HashMaps of the same entries iterate in different orders (each has its own random keys):
    // the metadata was written in that order.
    let tensors = vec![
        ("b".to_string(), Tensor::ones(&[2], DType::F32)),
        ("a".to_string(), Tensor::zeros(&[3], DType::I64)),
        ("c".to_string(), Tensor::from_vec(vec![true, false], &[2]).unwrap()),
    ];
    let mut files = Vec::new();
    for _ in 0..8 {
        let meta: HashMap<String, String> = (0..16).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
        let (_dir, path) = scratch("m.safetensors");
        save(&path, &tensors, &meta).unwrap();
        files.push(std::fs::read(&path).unwrap());
    }
    assert!(files.iter().all(|f| f == &files[0]));
    let n = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&files[0][8..8 + n]).unwrap();
    assert_eq!(n % 8, 0);
    let sorted: Vec<String> = {
        let mut k: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
        k.sort();
        k
    };
    let positions: Vec<usize> = sorted.iter().map(|k| header.find(&format!("\"{k}\"")).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{header}");
    // The safetensors crate's order: descending dtype (I64 before F32 before BOOL), then name.
    assert!(header.find("\"a\":").unwrap() < header.find("\"b\":").unwrap() && header.find("\"b\":").unwrap() < header.find("\"c\":").unwrap(), "{header}");
}

#[test]
fn a_long_file_name_still_gets_a_temporary_file() {
    let (dir, path) = scratch(&"m".repeat(250));
    save(&path, &[("w".into(), Tensor::ones(&[1], DType::F32))], &HashMap::new()).unwrap();
    assert_eq!(files_in(dir.path()), ["m".repeat(250)]);
}

#[test]
fn failed_save_keeps_the_old_file() {
    let (dir, path) = scratch("ckpt.pt");
    std::fs::write(&path, b"old").unwrap();
    let twice = [("w".to_string(), Tensor::ones(&[1], DType::F32)), ("w".to_string(), Tensor::ones(&[1], DType::F32))];
    assert!(save(&path, &twice, &HashMap::new()).unwrap_err().to_string().contains("two tensors are named \"w\""));
    // A target that is a folder: the rename fails after the data was written.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("inside"), b"x").unwrap();
    let err = save(&folder, &[("w".into(), Tensor::ones(&[1], DType::F32))], &HashMap::new()).unwrap_err();
    assert!(matches!(err, crate::Error::Io(..)), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(files_in(dir.path()), ["ckpt.pt", "folder"]);
    let missing = dir.path().join("no_such_dir").join("x.pt");
    assert!(matches!(save(&missing, &[], &HashMap::new()), Err(crate::Error::Io(std::io::ErrorKind::NotFound, _))));
}

#[test]
fn hostile_files_are_refused_with_named_reasons() {
    let f32_2 = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![1, 2, 3], "shorter than the 8-byte header length"),
        (huge, "header length 18446744073709551615 is larger than the rest of the file"),
        (raw(f32_2, &[0; 8])[..20].to_vec(), "is larger than the rest of the file"),
        (raw("{\"w\": ", &[]), "not valid JSON"),
        (raw("\u{0}\u{0}", &[]), "not valid JSON"),
        ([&8u64.to_le_bytes()[..], &[0xff; 8]].concat(), "not UTF-8"),
        (raw(r#"{"w":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}"#, &[0; 8]), "unsupported dtype \"U64\""),
        (raw(f32_2, &[0; 4]), "run past the end of the data section (4 bytes)"),
        (raw(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, &[0; 8]), "overlap"),
        (raw(r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, &[0; 8]), "takes 12 bytes"),
        (raw(r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, &[0; 8]), "non-negative integers"),
        (raw(r#"{"w":{"dtype":"F64","shape":[1152921504606846976,16],"data_offsets":[0,8]}}"#, &[0; 8]), "more elements than any file"),
        (raw(f32_2, &[0; 12]), "trailing bytes"),
        // serde_json keeps the last of two equal keys: one tensor would vanish.
        (raw(&format!("{{{},{}}}", &f32_2[1..f32_2.len() - 1], &f32_2[1..f32_2.len() - 1]), &[0; 8]), "names tensor \"w\" twice"),
    ];
    for (bytes, want) in cases {
        let msg = load_err(&bytes);
        assert!(msg.contains("is not a valid safetensors file") && msg.contains(want), "{msg:?} should mention {want:?}");
    }
}

#[test]
fn narrow_dtypes_load_as_themselves() {
    let (_dir, path) = scratch("narrow.safetensors");
    let header = r#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"u":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}"#;
    std::fs::write(&path, raw(header, &[0x00, 0x3c, 0x00, 0xc0, 200, 7])).unwrap();
    let got: HashMap<_, _> = load(&path).unwrap().tensors.into_iter().collect();
    assert_eq!((got["h"].dtype(), got["h"].to_vec::<f32>()), (DType::F16, vec![1.0, -2.0]));
    assert_eq!((got["u"].dtype(), got["u"].to_vec::<u8>()), (DType::U8, vec![200, 7]));
}

#[test]
fn missing_file_is_an_os_error() {
    let (_dir, path) = scratch("absent.safetensors");
    assert!(matches!(load(&path), Err(crate::Error::Io(std::io::ErrorKind::NotFound, _))));
}
