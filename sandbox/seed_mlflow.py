"""Seeded MLflow content: the harvest-forecast and lice-outbreak-risk models with their runs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.mlflow_store import MetricPoint, MlflowStore, Run

HARVEST_MODEL = "harvest-forecast"
LICE_MODEL = "lice-outbreak-risk"
SERVED_ALIAS = "champion"


@dataclass(frozen=True, slots=True)
class VersionPlan:
    age_days: int
    stage: str
    aliases: tuple[str, ...]
    params: dict[str, str]
    metrics: dict[str, float]
    description: str


HARVEST_VERSIONS = (
    VersionPlan(
        300,
        "Archived",
        (),
        {
            "tgc_atlantic_salmon": "2.60",
            "tgc_rainbow_trout": "2.40",
            "tgc_arctic_char": "1.90",
            "tgc_cod": "1.40",
            "crowding_per_100k": "0.00",
            "training_window_days": "365",
            "model_type": "thermal_growth",
        },
        {"rmse": 312.4, "mae": 241.0, "r2": 0.861},
        "First TGC fit on one year of Norwegian harvests.",
    ),
    VersionPlan(
        190,
        "Archived",
        (),
        {
            "tgc_atlantic_salmon": "2.80",
            "tgc_rainbow_trout": "2.50",
            "tgc_arctic_char": "2.00",
            "tgc_cod": "1.50",
            "crowding_per_100k": "0.02",
            "training_window_days": "730",
            "model_type": "thermal_growth",
        },
        {"rmse": 254.9, "mae": 198.3, "r2": 0.902},
        "Two years of harvests from every region; adds a crowding term.",
    ),
    VersionPlan(
        95,
        "Production",
        ("champion",),
        {
            "tgc_atlantic_salmon": "2.90",
            "tgc_rainbow_trout": "2.60",
            "tgc_arctic_char": "2.10",
            "tgc_cod": "1.60",
            "crowding_per_100k": "0.04",
            "training_window_days": "730",
            "model_type": "thermal_growth",
        },
        {"rmse": 211.7, "mae": 160.2, "r2": 0.931},
        "Refit after the Chilean trout harvests; current production model.",
    ),
    VersionPlan(
        12,
        "Staging",
        ("challenger",),
        {
            "tgc_atlantic_salmon": "2.95",
            "tgc_rainbow_trout": "2.65",
            "tgc_arctic_char": "2.10",
            "tgc_cod": "1.60",
            "crowding_per_100k": "0.05",
            "training_window_days": "900",
            "model_type": "thermal_growth",
        },
        {"rmse": 204.3, "mae": 157.9, "r2": 0.936},
        "Longer training window; in shadow evaluation against the champion.",
    ),
)

LICE_VERSIONS = (
    VersionPlan(
        150,
        "Archived",
        (),
        {"model_type": "gradient_boosting", "max_depth": "4", "n_estimators": "200", "horizon_days": "14"},
        {"roc_auc": 0.812, "f1": 0.644, "precision": 0.701},
        "Baseline on camera lice counts and temperature.",
    ),
    VersionPlan(
        40,
        "Production",
        ("champion",),
        {"model_type": "gradient_boosting", "max_depth": "5", "n_estimators": "400", "horizon_days": "14"},
        {"roc_auc": 0.857, "f1": 0.702, "precision": 0.744},
        "Adds salinity and neighbouring-farm counts.",
    ),
)


def _ms(time: datetime) -> int:
    return int(time.timestamp() * 1000)


def seed_mlflow(rng: random.Random, now: datetime) -> MlflowStore:
    """Create the Default experiment and one experiment, model and run per model version."""
    store = MlflowStore()
    year_ago = _ms(now - timedelta(days=365))
    store.create_experiment("Default", "mlflow-artifacts:/0", {}, year_ago)
    for model_name, plans, user in (
        (HARVEST_MODEL, HARVEST_VERSIONS, "ml-platform"),
        (LICE_MODEL, LICE_VERSIONS, "fish-health"),
    ):
        experiment = store.create_experiment(model_name, None, {"team": user}, year_ago)
        first_ms = _ms(now - timedelta(days=plans[0].age_days + 1))
        store.create_model(model_name, f"Registered from the {model_name} experiment.", {"team": user}, first_ms)

        for number, plan in enumerate(plans, start=1):
            created = now - timedelta(days=plan.age_days, hours=rng.randint(0, 8))
            start_ms = _ms(created - timedelta(minutes=rng.randint(20, 90)))
            end_ms = _ms(created - timedelta(minutes=5))
            run_id = f"{rng.getrandbits(128):032x}"
            run = Run(
                run_id=run_id,
                experiment_id=experiment.experiment_id,
                run_name=f"{model_name}-v{number}-fit",
                user_id=user,
                status="FINISHED",
                start_time=start_ms,
                end_time=end_ms,
                artifact_uri=f"{experiment.artifact_location}/{run_id}/artifacts",
                metrics=[MetricPoint(key, value, end_ms, 0) for key, value in plan.metrics.items()],
                params=dict(plan.params),
                tags={"mlflow.user": user, "mlflow.runName": f"{model_name}-v{number}-fit"},
            )
            store.add_run(run)
            source = f"{run.artifact_uri}/model"
            store.create_version(model_name, source, run_id, plan.description, {}, _ms(created), plan.stage)
            for alias in plan.aliases:
                store.set_alias(model_name, alias, str(number), _ms(created))
    return store
