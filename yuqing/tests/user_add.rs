//! `yuqing user add` as an operator runs it: the unit must be in the registry, and a data
//! directory that was never used is refused unless `--create` asks for it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn user_add(data_dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["user", "add"])
        .args(args)
        .env("YUQING__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("yuqing runs");
    // A refused unit fails before the password is read: the pipe may already be closed.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long passphrase\n");
    child.wait_with_output().expect("yuqing ends")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn user_add_checks_the_unit_and_the_data_directory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("yuqing-data");

    let out = user_add(&data, &["admin1", "--role", "admin"]);
    assert!(!out.status.success(), "an unused directory is refused");
    let err = text(&out.stderr);
    assert!(
        err.contains("--create") && err.contains("数据目录"),
        "{err}"
    );
    assert!(!data.join("dashboards").exists(), "nothing was created");

    let out = user_add(&data, &["admin1", "--role", "admin", "--create"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&data.display().to_string()),
        "says where: {said}"
    );

    let out = user_add(&data, &["u1", "--role", "unit", "--unit", "educaton"]);
    assert!(
        !out.status.success(),
        "a unit outside the registry is refused"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("不在单位名录") && err.contains("education（市教育局）"),
        "{err}"
    );

    // Names and aliases name a registry unit as well as its id.
    let out = user_add(&data, &["u1", "--role", "unit", "--unit", "教育局"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("市教育局（education）"),
        "{}",
        text(&out.stdout)
    );
}
