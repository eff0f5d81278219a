set -e
cd /work/main
S=target/index/synth100k
R=target/index/ann-results
A="--base $S/base.fvecs --query $S/query.fvecs --gt $S/gt.ivecs --metric cosine --m 16 --efc 200 --threads 2 --ef 20,100 --name synth100k-pair"
nice -n 10 target/index/release/examples/ann_bench $A --index $R/pair.hnsw > $R/pair.jsonl
nice -n 10 target/peers-venv/bin/python crates/zoek-index/benches/peers.py $A --libs hnswlib --workdir $R >> $R/pair.jsonl
rm -f $R/synth1m.hnsw
STEPS=big BIG_EFC=48 OUT=$R bash crates/zoek-index/benches/run_ann.sh > $R/big2.log 2>&1
