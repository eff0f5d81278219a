//! What a passage's vectors see besides its own sentences.
//!
//! A sentence such as "Dat belemmerde de samenwerking." means little alone; the document's
//! title and the section heading say what "dat" is about, and a heading often carries the
//! fact a question asks for (a date, a name). Two settings, recorded per collection, decide
//! how much of that reaches the vectors:
//!
//! * [`SentenceVectors`]: each sentence embedded on its own, or pooled out of its
//!   passage's forward pass ([`SentenceVectors::Late`], late chunking), which also costs one
//!   pass per passage instead of one per sentence plus one for the passage;
//! * `context_headers`: the title and heading (see [`passage_context`]) in front of the
//!   passage in the text that is embedded.

use serde::{Deserialize, Serialize};

/// How sentence vectors are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentenceVectors {
    /// Every sentence is embedded as a text of its own (collections made before this
    /// setting existed).
    #[default]
    Separate,
    /// Every sentence is pooled from its own tokens in its passage's forward pass, which
    /// also gives the passage vector.
    Late,
}

impl SentenceVectors {
    /// Every mode, as named on the command line and in manifests.
    pub const NAMES: [&'static str; 2] = ["separate", "late"];

    /// The name of this mode.
    pub fn name(self) -> &'static str {
        match self {
            Self::Separate => "separate",
            Self::Late => "late",
        }
    }
}

impl std::str::FromStr for SentenceVectors {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "separate" => Ok(Self::Separate),
            "late" => Ok(Self::Late),
            other => Err(format!(
                "unknown sentence-vector mode {other:?} (expected one of {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// The context put in front of a passage: its document's title and its section heading,
/// `"Title — Heading"`, either alone when the other is missing or repeats it; empty when
/// there is neither.
pub fn passage_context(title: Option<&str>, heading: Option<&str>) -> String {
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    let heading = heading.map(str::trim).filter(|h| !h.is_empty());
    match (title, heading) {
        (Some(t), Some(h)) if t == h || t.contains(h) => t.to_string(),
        (Some(t), Some(h)) => format!("{t} — {h}"),
        (Some(t), None) => t.to_string(),
        (None, Some(h)) => h.to_string(),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_joins_title_and_heading_once() {
        assert_eq!(passage_context(Some("T"), Some("H")), "T — H");
        assert_eq!(passage_context(Some("T"), Some("T")), "T");
        assert_eq!(passage_context(None, Some(" H ")), "H");
        assert_eq!(passage_context(Some(""), None), "");
    }

    #[test]
    fn names_round_trip() {
        for name in SentenceVectors::NAMES {
            assert_eq!(name.parse::<SentenceVectors>().unwrap().name(), name);
        }
        assert!("other".parse::<SentenceVectors>().is_err());
        let json = serde_json::to_string(&SentenceVectors::Late).unwrap();
        assert_eq!(json, "\"late\"");
    }
}
