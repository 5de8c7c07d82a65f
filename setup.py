"""vvs_tf: unsupervised models of the primate ventral visual stream in TensorFlow 2 / Keras 3."""
from setuptools import find_packages, setup

setup(
    name="vvs_tf",
    version="0.1.0",
    description="Train unsupervised ResNet models of the ventral visual stream and score them "
    "against neural recordings and behaviour.",
    packages=find_packages(include=["vvs_tf", "vvs_tf.*", "export", "serving", "configs", "configs.*"]),
    package_data={"serving": ["*.config", "*.sh", "*.pbtxt"], "vvs_tf.custom_ops": ["*.cc"]},
    python_requires=">=3.10,<3.14",
    install_requires=[
        "tensorflow==2.21.0",
        "keras==3.15.1",
        "tensorboard==2.21.0",
        "tensorflow-datasets==4.9.10",
        "tensorflow-serving-api==2.21.0",
        "absl-py==2.5.1",
        "ml-collections==1.1.0",
        "numpy==2.4.6",
        "scipy==1.17.1",
        "scikit-learn==1.9.1",
        "scikit-image==0.26.0",
        "xarray==2026.9.0",
        "h5netcdf==1.8.2",
        "pillow==13.0.0",
        "faiss-cpu==1.15.1",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]==2.21.0", "faiss-gpu==1.15.1"],
        "video": ["scikit-video==1.1.11"],
        "test": ["pytest==9.2.0"],
    },
    entry_points={
        "console_scripts": [
            "vvs-world=vvs_tf.data.world.cli:run",
            "vvs-train=vvs_tf.train:run",
            "vvs-eval=vvs_tf.evaluate.cli:run",
            "vvs-export=export.export:run",
            "vvs-serve=vvs_tf.serving.server:run",
            "vvs-analyze=vvs_tf.analysis.cli:run",
            "vvs-main=vvs_tf.main:run",
        ]
    },
)
