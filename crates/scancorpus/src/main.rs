//! The `scancorpus` command: generate a labelled corpus, score the scanner on it, compare
//! other secret scanners on it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use scancorpus::carriers::Sources;

#[derive(Debug, Parser)]
#[command(
    name = "scancorpus",
    about = "Labelled accuracy corpus for the aigov scanner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CarrierArg {
    /// Python standard library and cargo registry sources.
    Auto,
    /// Python standard library only.
    Python,
    /// Generated code only.
    Synthetic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
struct GenArgs {
    /// PRNG seed: the same seed and size give byte-identical planted and negative files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Total corpus size in MB (10^6 bytes), carriers included.
    #[arg(long, default_value_t = 100.0)]
    mb: f64,
    /// Planted items per family (default: max(50, 6 × MB)).
    #[arg(long)]
    per_family: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    carriers: CarrierArg,
    /// Also take carriers (.py, .rs) from this directory (repeatable); replaces --carriers.
    #[arg(long = "carrier-dir")]
    carrier_dirs: Vec<PathBuf>,
}

impl GenArgs {
    fn options(&self, force: bool) -> scancorpus::Options {
        scancorpus::Options {
            seed: self.seed,
            mb: self.mb,
            per_family: self.per_family,
            carriers: if !self.carrier_dirs.is_empty() {
                Sources::Dirs(self.carrier_dirs.clone())
            } else {
                match self.carriers {
                    CarrierArg::Auto => Sources::Auto,
                    CarrierArg::Python => Sources::Python,
                    CarrierArg::Synthetic => Sources::Synthetic,
                }
            },
            force,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a corpus directory: carriers, planted secrets and personal data, hard negatives,
    /// labels.jsonl, regions.jsonl, corpus.json.
    Generate {
        #[command(flatten)]
        gen_args: GenArgs,
        /// Directory to create (must be empty, or hold a corpus and --force be given).
        #[arg(long)]
        out: PathBuf,
        /// Replace a corpus already in --out.
        #[arg(long)]
        force: bool,
    },
    /// Score the scanner library on a corpus (given, or generated into a temporary directory).
    Accuracy {
        /// An existing corpus; without it one is generated from --seed and --mb.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        gen_args: GenArgs,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Examples shown per group of misses and false positives.
        #[arg(long, default_value_t = 3)]
        examples: usize,
        /// Exit with status 1 if any family's precision or recall is below this.
        #[arg(long)]
        min: Option<f64>,
    },
    /// Run aigov, gitleaks, Kingfisher and detect-secrets on the same corpus and compare
    /// speed and accuracy by (file, line).
    Compare(scancorpus::compare::Args),
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scancorpus: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate {
            gen_args,
            out,
            force,
        } => {
            let t = std::time::Instant::now();
            let m = scancorpus::generate(&out, &gen_args.options(force))?;
            eprintln!(
                "wrote {} in {:.1} s: {:.1} MB; {} labels; {} carrier files ({:.1} MB), {} planted files, {} negative files",
                out.display(),
                t.elapsed().as_secs_f64(),
                m.total_bytes as f64 / 1e6,
                m.labels,
                m.carrier_files,
                m.carrier_bytes as f64 / 1e6,
                m.planted_files,
                m.negative_files
            );
        }
        Command::Accuracy {
            dir,
            gen_args,
            format,
            examples,
            min,
        } => {
            let (dir, _tmp) = match dir {
                Some(d) => (d, None),
                None => {
                    let d = std::env::temp_dir().join(format!(
                        "scancorpus-{}-{}",
                        std::process::id(),
                        gen_args.seed
                    ));
                    scancorpus::generate(&d, &gen_args.options(true))
                        .with_context(|| format!("cannot generate a corpus in {}", d.display()))?;
                    (d.clone(), Some(TempDir(d)))
                }
            };
            let report = scancorpus::evaluate(&dir)?;
            match format {
                Format::Human => print!("{}", scancorpus::accuracy::human(&report, examples)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            if let Some(min) = min {
                let failing = report.failing(min);
                if !failing.is_empty() {
                    let names: Vec<&str> = failing.iter().map(|s| s.family.as_str()).collect();
                    eprintln!("below {min}: {}", names.join(", "));
                    return Ok(std::process::ExitCode::from(1));
                }
            }
        }
        Command::Compare(args) => scancorpus::compare::run(&args)?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A generated corpus removed when the command ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
