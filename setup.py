"""pip install -e .[cpu] (or [gpu]); add [test] for the test suite."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
requirements = [line.strip() for line in (HERE / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

setup(
    name="paddle_vae",
    version="0.1.0",
    description="LSTM variational autoencoder for text (Bowman et al. 2015) on PaddlePaddle",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["paddle_vae", "paddle_vae.*"]),
    # Read at run time: the demo corpus is the default --dataset, so a wheel must carry it.
    package_data={"paddle_vae.data": ["demo_corpus/*.txt", "demo_corpus/*.labels", "demo_corpus/README.md"],
                  "paddle_vae.serve": ["page.html"]},  # the explorer page, read at run time
    python_requires=">=3.8",
    install_requires=requirements,
    extras_require={
        "cpu": ["paddlepaddle>=2.6.2"],
        "gpu": ["paddlepaddle-gpu>=2.6.2"],
        "test": ["pytest", "pytest-xdist", "playwright"],
    },
    entry_points={"console_scripts": [
        "paddle-vae-train=paddle_vae.train:main",
        "paddle-vae-predict=paddle_vae.predict:main",
        "paddle-vae-evaluate=paddle_vae.evaluate:main",
        "paddle-vae-prepare-corpus=paddle_vae.prepare_corpus:main",
        "paddle-vae-experiments=paddle_vae.experiments.__main__:main",
        "paddle-vae-serve=paddle_vae.serve.__main__:main",
    ]},
)
