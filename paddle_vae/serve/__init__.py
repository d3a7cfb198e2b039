"""The served model: `python -m paddle_vae.serve --init_from_ckpt model/best` (console script `paddle-vae-serve`).

A JSON API that mirrors `VAEGenerator` (sample, reconstruct, interpolate, encode, decode, score) and a latent
explorer page at `/`. The pieces: `limits` (what one request may ask for), `schemas` (the request and answer
models), `worker` (the one thread that runs the model, with a bounded queue), `operations` (the library calls
that like requests share), `about` (what the bundle records
about itself), `latent_map` (the 2-D PCA plane of the page's map), `app` (the FastAPI application),
`__main__` (the command) and `process` (the command in a child process, for the tests, the load benchmark
and the screenshot). This is a command package: the library never imports it.
"""
