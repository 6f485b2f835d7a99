"""The "seed recipe": the classic Big Mart tutorial's cleaning, encoding and model.

This is the baseline our benchmarks compare the product against, so it reproduces the
tutorial faithfully, including its known flaws (flagged ``SEED BUG`` / ``SEED BEHAVIOUR``
below). Do not "fix" them here: a fixed seed is no longer the seed.

Typical use::

    folds = list(KFold(5, shuffle=True, random_state=0).split(df))
    rmses = seed_cv_rmse(df, folds)
"""

from __future__ import annotations

from typing import overload

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.preprocessing import LabelEncoder, StandardScaler

TARGET = "Item_Outlet_Sales"

#: Categorical columns the tutorial label-encodes (after ``seed_clean``).
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "Item_Fat_Content",
    "Outlet_Identifier",
    "Outlet_Size",
    "Outlet_Location_Type",
    "Outlet_Type",
    "Item_Type_Combined",
)

#: Feature columns, in the order of the encoded matrix (and of the seed server's CSV rows).
FEATURE_COLUMNS: tuple[str, ...] = (
    "Item_Weight",
    "Item_Fat_Content",
    "Item_Visibility",
    "Item_MRP",
    "Outlet_Identifier",
    "Outlet_Size",
    "Outlet_Location_Type",
    "Outlet_Type",
    "Item_Type_Combined",
    "Outlet_Years",
)

_FAT_CONTENT = {"LF": "Low Fat", "low fat": "Low Fat", "reg": "Regular"}
_ITEM_TYPE_COMBINED = {"FD": "Food", "DR": "Drinks", "NC": "Non-Consumable"}


def seed_clean(df: pd.DataFrame) -> pd.DataFrame:
    """Apply the tutorial's cleaning and feature engineering; returns a new frame.

    Every statistic (imputation mean, modes, mean visibility) is computed on the frame
    given, as the seed does on its concatenated train+test frame. The target column, if
    present, is kept untouched.
    """
    out = df.copy()

    # SEED BUG (reproduced on purpose): every missing Item_Weight gets the mean weight of
    # ONE Item_Type -- here the most common one ("Fruits and Vegetables" in train.csv) --
    # instead of the item's own weight, which is known from its rows in other outlets.
    main_type = out["Item_Type"].mode().iloc[0]
    one_type_mean = out.loc[out["Item_Type"] == main_type, "Item_Weight"].mean()
    out["Item_Weight"] = out["Item_Weight"].fillna(one_type_mean)

    # Outlet_Size: mode per Outlet_Type. Fallback to the overall mode when a type has no
    # known size at all (the seed would leave NaN and crash in the encoder).
    overall_size = out["Outlet_Size"].mode()
    size_by_type = out.groupby("Outlet_Type")["Outlet_Size"].agg(
        lambda s: s.mode().iloc[0] if s.notna().any() else np.nan
    )
    missing_size = out["Outlet_Size"].isna()
    out.loc[missing_size, "Outlet_Size"] = out.loc[missing_size, "Outlet_Type"].map(size_by_type)
    if not overall_size.empty:
        out["Outlet_Size"] = out["Outlet_Size"].fillna(overall_size.iloc[0])

    # Zero visibility is impossible; the seed replaces it with the overall mean (zeros
    # included in that mean, as the tutorial computes it).
    mean_visibility = out["Item_Visibility"].mean()
    out["Item_Visibility"] = out["Item_Visibility"].mask(
        out["Item_Visibility"] == 0, mean_visibility
    )

    out["Item_Fat_Content"] = out["Item_Fat_Content"].replace(_FAT_CONTENT)
    out["Item_Type_Combined"] = out["Item_Identifier"].str[:2].map(_ITEM_TYPE_COMBINED)
    out["Outlet_Years"] = 2013 - out["Outlet_Establishment_Year"]

    return out.drop(columns=["Item_Identifier", "Item_Type", "Outlet_Establishment_Year"])


@overload
def seed_encode(train_df: pd.DataFrame, other_df: None = None) -> np.ndarray: ...


@overload
def seed_encode(
    train_df: pd.DataFrame, other_df: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]: ...


def seed_encode(
    train_df: pd.DataFrame, other_df: pd.DataFrame | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Label-encode the categoricals and standard-scale all features, as the seed does.

    Both frames must already be ``seed_clean``-ed. The encoders and scaler are fitted on
    ``train_df`` and then discarded (SEED BEHAVIOUR: the seed never saves them, so a served
    model can only take rows encoded by this same in-memory fit). ``other_df`` is
    transformed with the same fitted encoders; a label unseen in ``train_df`` raises
    ``ValueError``, as in the seed. Returns the feature matrix (rows in frame order,
    columns in ``FEATURE_COLUMNS`` order), or a pair when ``other_df`` is given.
    """
    train_x = train_df.loc[:, list(FEATURE_COLUMNS)].copy()
    other_x = None if other_df is None else other_df.loc[:, list(FEATURE_COLUMNS)].copy()

    for column in CATEGORICAL_COLUMNS:
        encoder = LabelEncoder()
        train_x[column] = encoder.fit_transform(train_x[column].astype(str))
        if other_x is not None:
            other_x[column] = encoder.transform(other_x[column].astype(str))

    scaler = StandardScaler()
    train_matrix = scaler.fit_transform(train_x.to_numpy(dtype=float))
    if other_x is None:
        return train_matrix
    return train_matrix, scaler.transform(other_x.to_numpy(dtype=float))


def seed_model(random_state: int | None = None) -> RandomForestRegressor:
    """The seed's model: ``RandomForestRegressor(n_estimators=500)``.

    ``n_jobs=-1`` is added only to make fitting faster; it does not change predictions.
    ``random_state`` defaults to None (the seed sets none); pass an int to make a
    benchmark run repeatable.
    """
    return RandomForestRegressor(n_estimators=500, n_jobs=-1, random_state=random_state)


def seed_cv_rmse(
    df: pd.DataFrame,
    folds: list[tuple[np.ndarray, np.ndarray]],
    random_state: int | None = None,
) -> list[float]:
    """Cross-validated RMSE of the seed recipe, one value per (train_idx, test_idx) fold.

    ``df`` is the raw training frame (with ``Item_Outlet_Sales``); fold indices are
    positional, so the same folds can be given to the product's benchmark.

    SEED BEHAVIOUR: cleaning, label encoders and scaler are fitted ONCE on the full
    ``df`` before splitting, as the seed does on its combined train+test frame. This
    never uses the target, and it keeps a fold from crashing on a category absent from
    its training part; the forest itself is fitted on each fold's training rows only.
    """
    cleaned = seed_clean(df)
    features = seed_encode(cleaned)
    target = cleaned[TARGET].to_numpy(dtype=float)

    rmses: list[float] = []
    for train_idx, test_idx in folds:
        model = seed_model(random_state=random_state)
        model.fit(features[train_idx], target[train_idx])
        error = model.predict(features[test_idx]) - target[test_idx]
        rmses.append(float(np.sqrt(np.mean(error**2))))
    return rmses
