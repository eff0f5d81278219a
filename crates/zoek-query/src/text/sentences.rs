//! Sentence segmentation for Dutch and English text.
//!
//! Unicode sentence boundaries (UAX #29, from `unicode-segmentation`) already keep
//! "bijv. gezamenlijke" together because a lower-case word follows the period; what they
//! get wrong is an abbreviation followed by a capital or digit ("Dr. Jansen", "o.a. Utrecht",
//! "art. 5"), so boundaries after known abbreviations and initials are undone here.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// Abbreviations (lower-cased, with their final period) after which a sentence never ends.
const ABBREVIATIONS: &[&str] = &[
    // Dutch
    "bijv.", "bv.", "o.a.", "d.w.z.", "m.a.w.", "a.d.h.v.", "i.p.v.", "i.v.m.", "m.b.t.", "t.a.v.",
    "t.o.v.", "z.g.a.n.", "zgn.", "vgl.", "nr.", "nrs.", "art.", "artt.", "ca.", "resp.", "dhr.",
    "mevr.", "mw.", "drs.", "ir.", "ing.", "mr.", "prof.", "dr.", "jl.", "blz.", "pag.", "lid.",
    "jr.", "sr.", "st.", "incl.", "excl.", "evt.", "enz.", "e.d.", "e.a.", "o.b.v.", "p.p.",
    "tel.", "z.o.z.", "a.s.", "j.l.", "n.a.v.", "i.o.m.", "m.i.v.", "v.w.b.",
    // English
    "e.g.", "i.e.", "cf.", "vs.", "viz.", "mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.",
    "no.", "nos.", "fig.", "figs.", "vol.", "p.", "pp.", "approx.", "dept.", "inc.", "ltd.", "co.",
    "corp.", "gen.", "gov.", "sen.", "rep.", "rev.", "sgt.", "capt.", "lt.", "col.", "mt.", "jan.",
    "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.", "oct.", "okt.", "nov.",
    "dec.", "u.s.", "u.k.", "a.m.", "p.m.",
];

/// Returns the byte ranges of the sentences of `text`, trimmed of surrounding whitespace.
/// Every non-whitespace byte of `text` lies in exactly one range.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut glue = false;
    for (start, piece) in text.split_sentence_bound_indices() {
        for range in split_before_lowercase(piece, start) {
            let trimmed = &text[range.clone()];
            match out.last_mut() {
                Some(last) if glue => last.end = range.end,
                _ => out.push(range.clone()),
            }
            glue = ends_with_abbreviation(trimmed) || is_list_marker(trimmed);
        }
    }
    out
}

/// True if the whole piece is a list or paragraph label ("1.", "2a.", "b)", "IV.", "§ 3.")
/// that UAX #29 cut off from the text it numbers. Law texts start most paragraphs this
/// way: kept apart, "1." alone was the most common sentence of the nl-laws collection
/// (14,170 copies), each a useless vector that matches nothing in particular.
fn is_list_marker(piece: &str) -> bool {
    let Some(label) = piece.strip_suffix('.').or_else(|| piece.strip_suffix(')')) else {
        return false;
    };
    let label = label
        .trim_start_matches('(')
        .trim_start_matches('§')
        .trim_start();
    if label.is_empty() || label.chars().count() > 6 {
        return false;
    }
    let digits = label.chars().take_while(char::is_ascii_digit).count();
    let rest = &label[digits..];
    if digits > 0 {
        // "12", "2a", "3°"
        return digits <= 3
            && rest.chars().count() <= 1
            && rest.chars().all(|c| c.is_alphabetic() || c == '°');
    }
    // "a", "b", "iv", "IV": one lower-case letter, or a roman numeral.
    let one_letter = label.chars().count() == 1 && label.chars().all(char::is_lowercase);
    let roman = label.chars().all(|c| "ivxlcIVXLC".contains(c))
        && (label.chars().all(char::is_uppercase) || label.chars().all(char::is_lowercase));
    one_letter || roman
}

/// UAX #29 never ends a sentence at a period followed by a lower-case word, which leaves
/// lower-cased text (search logs, normalised dumps) as one endless sentence. Such periods
/// end a sentence here unless the word before is an abbreviation, an initial or contains
/// periods itself ("o.a."). Returns trimmed, non-empty ranges offset by `offset`.
fn split_before_lowercase(piece: &str, offset: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    for (i, _) in piece.match_indices(". ") {
        let after = piece[i + 2..].trim_start();
        if !after.chars().next().is_some_and(char::is_lowercase) {
            continue;
        }
        let word_start = piece[..i]
            .rfind(|c: char| c.is_whitespace() || c == '(')
            .map_or(0, |p| p + 1);
        let word = &piece[word_start..=i];
        let core = &word[..word.len() - 1];
        let plain = core.chars().count() >= 2
            && !core.contains('.')
            && !core.chars().all(|c| c.is_ascii_digit())
            && !ABBREVIATIONS.contains(&word.to_lowercase().as_str())
            && !word.eq_ignore_ascii_case("etc.");
        if plain {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    out.push(start..piece.len());
    out.into_iter()
        .filter_map(|r| {
            let s = &piece[r.clone()];
            let lead = s.len() - s.trim_start().len();
            let t = s.trim();
            (!t.is_empty()).then(|| offset + r.start + lead..offset + r.start + lead + t.len())
        })
        .collect()
}

/// True if the sentence piece ends in a known abbreviation or an initial ("J.").
fn ends_with_abbreviation(piece: &str) -> bool {
    if !piece.ends_with('.') {
        return false;
    }
    let last_word = piece
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '\'' || c == '‘')
        .next()
        .unwrap_or(piece);
    let lower = last_word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    // A single capital letter with a period is an initial ("J. Snijders").
    let letters: Vec<char> = last_word.trim_end_matches('.').chars().collect();
    letters.len() == 1 && letters[0].is_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn dutch_abbreviations_do_not_end_sentences() {
        let text = "Zij bieden welzijnsactiviteiten (bijv. gezamenlijke maaltijden) aan. \
                    Partners zijn o.a. Utrecht en Zeist, d.w.z. Twee gemeenten. \
                    Zie art. 5 van de wet. Dr. Jansen en J. Snijders waren er.";
        assert_eq!(
            split(text),
            [
                "Zij bieden welzijnsactiviteiten (bijv. gezamenlijke maaltijden) aan.",
                "Partners zijn o.a. Utrecht en Zeist, d.w.z. Twee gemeenten.",
                "Zie art. 5 van de wet.",
                "Dr. Jansen en J. Snijders waren er.",
            ]
        );
    }

    #[test]
    fn english_abbreviations_and_questions() {
        let text = "Some cities, e.g. Delft, joined. Mr. Smith agreed! Did he? \
                    We used apples, pears, etc. The rest was fine.";
        assert_eq!(
            split(text),
            [
                "Some cities, e.g. Delft, joined.",
                "Mr. Smith agreed!",
                "Did he?",
                "We used apples, pears, etc.",
                "The rest was fine.",
            ]
        );
    }

    #[test]
    fn lower_cased_text_is_split_at_periods_but_not_after_abbreviations() {
        let text = "bewaar het 5 jaar. voor bedrijven geldt 7 jaar, bijv. bij een bv. zie o.a. de wet. \
                    of niet? dat hangt af van art. 5 enz. en meer.";
        assert_eq!(
            split(text),
            [
                "bewaar het 5 jaar.",
                "voor bedrijven geldt 7 jaar, bijv. bij een bv. zie o.a. de wet.",
                "of niet?",
                "dat hangt af van art. 5 enz. en meer.",
            ]
        );
    }

    #[test]
    fn list_markers_stay_with_the_text_they_number() {
        let text = "1. Deze wet is van toepassing op zorg. 2. Onze Minister kan regels stellen. \
                    b) Een besluit wordt bekendgemaakt. \
                    IV. Slotbepaling. § 3. Overgangsrecht. Er waren 3. Dat is alles.";
        assert_eq!(
            split(text),
            [
                "1. Deze wet is van toepassing op zorg.",
                "2. Onze Minister kan regels stellen.",
                "b) Een besluit wordt bekendgemaakt.",
                "IV. Slotbepaling.",
                "§ 3. Overgangsrecht.",
                "Er waren 3.",
                "Dat is alles.",
            ]
        );
        assert_eq!(
            split("2a. Het college beslist. 3°. Daarna de raad."),
            ["2a. Het college beslist.", "3°. Daarna de raad."]
        );
        // A label at the very end has nothing to join.
        assert_eq!(split("Zie hieronder. 1."), ["Zie hieronder.", "1."]);
        for not_a_label in ["Ja.", "Nee.", "1234.", "Mild.", "Civil."] {
            assert!(!is_list_marker(not_a_label), "{not_a_label}");
        }
    }

    #[test]
    fn ranges_are_trimmed_and_cover_the_text() {
        let text = "  Eén. Twee?  Drie ";
        let ranges = sentences(text);
        assert_eq!(split(text), ["Eén.", "Twee?", "Drie"]);
        let covered: usize = ranges.iter().map(|r| r.len()).sum();
        assert_eq!(
            covered,
            text.split_whitespace().map(str::len).sum::<usize>()
        );
    }
}
