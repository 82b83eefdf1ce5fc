//! A labelled accuracy corpus for aigov's secret and personal-data scanner: a deterministic
//! generator (real carrier sources, planted values in providers' formats, hard negatives),
//! precision/recall scoring of the scanner library, and a side-by-side run of other scanners.

pub mod accuracy;
pub mod carriers;
pub mod codec;
pub mod compare;
pub mod contexts;
pub mod generate;
pub mod layout;
pub mod negatives;
pub mod pii;
pub mod prng;
pub mod values;

pub use accuracy::{Report, evaluate};
pub use generate::{Options, generate};
