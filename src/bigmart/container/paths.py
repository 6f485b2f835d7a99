"""SageMaker's ``/opt/ml`` layout, rooted at ``$OPT_ML`` so the contract runs anywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bigmart.contract import DEFAULT_OPT_ML, Env


@dataclass(frozen=True)
class OptMl:
    """The folders and files SageMaker gives a training or hosting container."""

    root: Path

    @classmethod
    def from_environment(cls) -> OptMl:
        return cls(Path(os.environ.get(Env.OPT_ML, DEFAULT_OPT_ML)))

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters(self) -> Path:
        return self.config / "hyperparameters.json"

    @property
    def input_data_config(self) -> Path:
        return self.config / "inputdataconfig.json"

    @property
    def resource_config(self) -> Path:
        return self.config / "resourceconfig.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.output / "data"

    @property
    def failure(self) -> Path:
        return self.output / "failure"
