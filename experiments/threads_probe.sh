#!/usr/bin/env bash
# One 2-thread PTB run, then two 1-thread runs at once; same 300 steps each.
cd "$(dirname "$0")/.."
P=~/paddle_vae_runs/threads_probe
F="--dataset ptb --data_dir ../shared/data/ptb --max_steps 300 --final_eval none --log_freq 100"
rm -rf $P/t2 $P/t1a $P/t1b
/usr/bin/time -v .venv/bin/python -m paddle_vae.train $F --num_threads 2 --model_path $P/t2 > $P/t2.out 2>&1
/usr/bin/time -v .venv/bin/python -m paddle_vae.train $F --num_threads 1 --model_path $P/t1a > $P/t1a.out 2>&1 &
/usr/bin/time -v .venv/bin/python -m paddle_vae.train $F --num_threads 1 --model_path $P/t1b --seed 2 > $P/t1b.out 2>&1 &
wait
echo done > $P/DONE
