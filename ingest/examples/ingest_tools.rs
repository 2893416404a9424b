//! The ingest measuring tools without the full CLI (handy while tuning extraction):
//! `cargo run -p ingest --example ingest_tools -- eval FILE | extract FILE|URL | bench`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["eval", file] => {
            ingest::tools::eval_extraction(std::path::Path::new(file), None, &mut out)?
        }
        ["eval", file, fold] | ["eval", file, fold, "--rest"] => {
            let fold = ingest::tools::Fold::parse(fold, args.len() == 4)?;
            ingest::tools::eval_extraction(std::path::Path::new(file), Some(fold), &mut out)?
        }
        ["extract", target] => ingest::tools::extract(target, &mut out).await?,
        ["bench"] => ingest::tools::bench(&mut out).await?,
        ["profile"] => ingest::tools::profile_stages(&mut out)?,
        ["explain", file] => {
            let bytes = std::fs::read(file)?;
            print!(
                "{}",
                ingest::extract::explain(&ingest::decode::decode(&bytes, None).text)
            );
        }
        _ => anyhow::bail!("usage: ingest_tools eval FILE | extract FILE|URL | bench"),
    }
    Ok(())
}
