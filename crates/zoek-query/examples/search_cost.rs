//! Search cost without the model, for before/after comparisons whose instruction counts do
//! not depend on the machine's load (callgrind):
//!
//! ```sh
//! head -n 5000 ../shared/data/nl-laws/nl_laws_paragraphs.jsonl > /tmp/laws5k.jsonl
//! cargo run --release -p zoek-query --example search_cost -- build /tmp/laws5k.jsonl /tmp/exact 1000000
//! cargo run --release -p zoek-query --example search_cost -- build /tmp/laws5k.jsonl /tmp/graph 1
//! valgrind --tool=callgrind target/release/examples/search_cost /tmp/exact 200   # and 0
//! ```
//!
//! `build INPUT OUT THRESHOLD` builds a collection with the hashing embedder (HNSW from
//! THRESHOLD sentences); `DIR N` runs four questions N times in each ranking mode through
//! `Collection::search_embedded`. The difference between N and 0 is the search cost.
use zoek_query::{
    AskOptions, BuildOptions, Collection, Engine, HashEmbedder, RankMode, TextEmbedder,
    TokenCounting,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("collection dir");
    if dir == "build" {
        let input = args.next().unwrap();
        let out = args.next().unwrap();
        let threshold: usize = args.next().unwrap().parse().unwrap();
        let opts = BuildOptions {
            token_counting: TokenCounting::CharEstimate,
            hnsw_threshold: threshold,
            ..BuildOptions::default()
        };
        let s = Engine::new(HashEmbedder::default())
            .build(&[input], &out, &opts)
            .unwrap();
        println!(
            "{} passages {} sentences hnsw {}",
            s.passages, s.sentences, s.hnsw
        );
        return;
    }
    let n: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(100);
    let embedder = HashEmbedder::default();
    let _engine = Engine::new(embedder.clone());
    let c = Collection::open(&dir).unwrap();
    let qs = [
        "wat regelt de wet over de gemeente",
        "de minister kan regels stellen",
        "vergunning voor het bouwen",
        "bezwaar en beroep tegen een besluit",
    ];
    let vs: Vec<Vec<f32>> = qs
        .iter()
        .map(|q| embedder.embed_query(q).unwrap())
        .collect();
    let mut sum = 0f32;
    for mode in [
        RankMode::Hybrid,
        RankMode::Rrf,
        RankMode::SentenceToParent,
        RankMode::DenseParagraph,
    ] {
        let o = AskOptions {
            k: 5,
            mode,
            ..AskOptions::default()
        };
        for i in 0..n {
            let a = c.search_embedded(qs[i % 4], &vs[i % 4], &o).unwrap();
            sum += a.hits[0].score;
        }
    }
    println!("{sum}");
}
