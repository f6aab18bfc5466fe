"""Person-time at risk from the follow-up cohort. Pure: numpy and pandas, dates as parameters.

An *episode* is one patient's follow-up for one product: it starts at the patient's first
infusion of the product (time zero) and ends at the earliest of (``alerts/analytics.yaml``,
``person_time``):

* death, withdrawal or transfer (the follow-up engine's stop date; a fatal case outcome is
  a death there too);
* lost to follow-up, or a completed fixed-duration plan: the last contact, that is the
  last visit (any of the patient's treatments) or the latest information date of a case
  report about the patient, whichever is later (time zero when there was none);
* a later infusion of another product, when ``other_product_infusion`` is ``censor``;
* the as-of date for a patient still in follow-up (or their last contact, with
  ``active_until: last_contact``).

Against an event group, the episode's time at risk then ends at the first event of the
group dated in the episode (onset on or after time zero; events before it are prevalent
and left out). Status: 1 event, 2 death without the event (competing), 0 censored. An
event on the day of death counts as the event. Times are whole days; person-years are
days / 365.25.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CENSORED, EVENT, COMPETING = 0, 1, 2
DAYS_PER_YEAR = 365.25
STOPS = {"deceased": "death", "withdrawn": "withdrawal", "transferred": "transfer"}
_DAY = np.timedelta64(1, "D")


def day_numbers(values) -> np.ndarray:
    """datetime-like -> whole days since 1970 (int64); NaT -> int64 min."""
    arr = pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[D]")
    out = arr.astype(np.int64)
    out[np.isnat(arr)] = np.iinfo(np.int64).min
    return out


def episodes(treatments: pd.DataFrame, followup: pd.DataFrame, product_id: int, as_of,
             other_product_infusion: str = "censor", active_until: str = "as_of",
             last_info: pd.Series | None = None) -> pd.DataFrame:
    """One row per patient treated with ``product_id`` by ``as_of``.

    ``treatments``: every treatment of those patients (treatment_id, patient_id, product_id,
    infusion_date, and any descriptive columns, which are taken from the patient's first
    treatment with the product). ``followup``: the follow-up engine's treatment frame for
    them (treatment_id, status, stop_date, last_visit_date). ``last_info``: the latest case
    information date per patient (index patient_id), a contact too.

    Returns the first treatment's columns plus start, exit (datetime64[s]), exit_reason.
    """
    as_of_day = int(day_numbers([as_of])[0])
    tr = treatments.merge(followup[["treatment_id", "status", "stop_date", "last_visit_date"]],
                          on="treatment_id", how="left", validate="one_to_one")
    tr["_inf"] = day_numbers(tr["infusion_date"])
    tr = tr[tr["_inf"] <= as_of_day]
    own = tr[tr["product_id"] == product_id].sort_values(["patient_id", "_inf", "treatment_id"], kind="stable")
    if own.empty:
        cols = [*treatments.columns, "start", "exit", "exit_reason"]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    first = own.drop_duplicates("patient_id").set_index("patient_id")
    start = first["_inf"]
    pid = own["patient_id"].to_numpy()

    # stops: the earliest stop date over the patient's own treatments
    stop_day = day_numbers(own["stop_date"])
    status = own["status"].astype(str).to_numpy()
    stopped = np.isin(status, list(STOPS))
    s = pd.DataFrame({"patient_id": pid[stopped], "day": stop_day[stopped],
                      "reason": [STOPS[x] for x in status[stopped]]}).sort_values(["patient_id", "day"], kind="stable")
    s = s.drop_duplicates("patient_id").set_index("patient_id").reindex(start.index)

    # last visit over all the patient's treatments (not before time zero)
    last = pd.Series(day_numbers(tr["last_visit_date"]), index=tr["patient_id"].to_numpy()).groupby(level=0).max()
    last = np.maximum(last.reindex(start.index).to_numpy(), start.to_numpy())
    if last_info is not None and len(last_info):
        info = pd.Series(day_numbers(last_info.to_numpy()), index=last_info.index).groupby(level=0).max()
        last = np.maximum(last, info.reindex(start.index).fillna(np.iinfo(np.int64).min).to_numpy(np.int64))
    active = pd.Series(status == "active", index=pid).groupby(level=0).any().reindex(start.index).to_numpy()
    lost = pd.Series(status == "lost_to_follow_up", index=pid).groupby(level=0).any().reindex(start.index).to_numpy()

    n = len(start)
    exit_day = np.full(n, as_of_day, np.int64)
    reason = np.full(n, "as_of", dtype=object)
    if active_until == "last_contact":
        exit_day = np.where(active, last, exit_day)
        reason = np.where(active, "last_contact", reason)
    ended = ~active
    exit_day = np.where(ended, last, exit_day)
    reason = np.where(ended, np.where(lost, "lost", "completed"), reason)
    has_stop = s["day"].notna().to_numpy()
    sd = s["day"].to_numpy(dtype=float)
    exit_day = np.where(has_stop, np.nan_to_num(sd, nan=0).astype(np.int64), exit_day)
    reason = np.where(has_stop, s["reason"].to_numpy(dtype=object), reason)

    if other_product_infusion == "censor":
        other = tr[tr["product_id"] != product_id]
        other = other[other["_inf"].to_numpy() > start.reindex(other["patient_id"]).to_numpy(dtype=float)]
        nxt = other.groupby("patient_id")["_inf"].min().reindex(start.index).to_numpy(dtype=float)
        cut = ~np.isnan(nxt) & (nxt < exit_day)
        exit_day = np.where(cut, np.nan_to_num(nxt).astype(np.int64), exit_day)
        reason = np.where(cut, "other_product", reason)

    exit_day = np.clip(exit_day, start.to_numpy(), as_of_day)
    out = first.drop(columns=["_inf", "status", "stop_date", "last_visit_date"]).reset_index()
    out["start"] = start.to_numpy().astype("datetime64[D]").astype("datetime64[s]")
    out["exit"] = exit_day.astype("datetime64[D]").astype("datetime64[s]")
    out["exit_reason"] = reason.astype(str)
    return out


def first_events(events: pd.DataFrame) -> pd.DataFrame:
    """patient_id, onset (datetime64) -> every onset per patient, sorted (the caller picks the first in an episode)."""
    ev = events[["patient_id", "onset"]].dropna()
    return ev.sort_values(["patient_id", "onset"], kind="stable").reset_index(drop=True)


def time_at_risk(episodes: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The episodes with ``event_date``, ``end``, ``days`` and ``status`` against one event group.

    ``events``: patient_id, onset (datetime64) of the group's reactions (any number per patient).
    """
    out = episodes.copy()
    start = day_numbers(out["start"])
    exit_ = day_numbers(out["exit"])
    ev = first_events(events)
    ev_pat = ev["patient_id"].to_numpy()
    ev_day = day_numbers(ev["onset"])
    # the first onset within [start, exit] of the patient's episode
    pos = pd.Index(out["patient_id"]).get_indexer(ev_pat)
    keep = pos >= 0
    pos, ev_day = pos[keep], ev_day[keep]
    inside = (ev_day >= start[pos]) & (ev_day <= exit_[pos])
    first = np.full(len(out), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, pos[inside], ev_day[inside])
    has_event = first != np.iinfo(np.int64).max
    end = np.where(has_event, first, exit_)
    status = np.where(has_event, EVENT, np.where(out["exit_reason"].to_numpy() == "death", COMPETING, CENSORED))
    out["event_date"] = pd.Series(np.where(has_event, first, 0).astype("datetime64[D]"), index=out.index).where(
        has_event).astype("datetime64[s]")
    out["end"] = end.astype("datetime64[D]").astype("datetime64[s]")
    out["days"] = (end - start).astype(np.int64)
    out["status"] = status.astype(np.int8)
    return out


def attained_age_split(frame: pd.DataFrame, bands: tuple[int, ...]) -> pd.DataFrame:
    """Split each row's time at risk by attained age band (a Lexis split).

    ``frame``: start, days, status, birth_year (plus any columns, carried along). Birth is
    taken as 2 July of the birth year (the mid-year: only the year is stored). Returns one
    row per (row, band) with time in it: ``row`` (position in ``frame``), ``age_band``
    (label such as "18-39" or "65+"), ``band`` (index), ``offset`` (days from the row's start
    to the piece's), ``days`` (float) and ``events`` (1 in the band holding an event, else 0).
    """
    lo = np.asarray(bands, dtype=float)
    hi = np.append(lo[1:], np.inf)
    lo_open = np.append(-np.inf, lo[1:])  # time before the (mid-year) birthday counts in the first band
    birth = day_numbers(pd.to_datetime(frame["birth_year"].astype(int).astype(str) + "-07-02")).astype(float)
    start = day_numbers(frame["start"]).astype(float)
    days = frame["days"].to_numpy(dtype=float)
    end = start + days
    b_lo = birth[:, None] + lo_open[None, :] * DAYS_PER_YEAR
    b_hi = birth[:, None] + hi[None, :] * DAYS_PER_YEAR
    overlap = np.clip(np.minimum(end[:, None], b_hi) - np.maximum(start[:, None], b_lo), 0, None)
    # the band of the end date (an event's band); ages below 0 fall in the first band
    age_end = (end - birth) / DAYS_PER_YEAR
    end_band = np.clip(np.searchsorted(lo, age_end, side="right") - 1, 0, len(lo) - 1)
    # a zero-length row (event on the day of infusion) still needs a band for its event
    zero = days <= 0
    overlap[zero, end_band[zero]] = 0.0
    rows, cols = np.nonzero((overlap > 0) | ((np.arange(len(lo))[None, :] == end_band[:, None]) & zero[:, None]))
    ev = (frame["status"].to_numpy() == EVENT)[rows] & (cols == end_band[rows])
    labels = band_labels(bands)
    offset = np.clip(b_lo[rows, cols] - start[rows], 0, None)  # days from the episode's start to the piece's
    return pd.DataFrame({"row": rows, "band": cols, "age_band": np.asarray(labels, dtype=object)[cols],
                         "offset": offset, "days": overlap[rows, cols], "events": ev.astype(np.int64)})


def band_labels(bands: tuple[int, ...]) -> list[str]:
    lo = list(bands)
    return [f"{a}-{b - 1}" for a, b in zip(lo, lo[1:])] + [f"{lo[-1]}+"]


def age_band_at(start, birth_year, bands: tuple[int, ...]) -> np.ndarray:
    """The age band label at a date (2 July birthdays, as above)."""
    birth = day_numbers(pd.to_datetime(pd.Series(birth_year).astype(int).astype(str) + "-07-02")).astype(float)
    age = (day_numbers(start).astype(float) - birth) / DAYS_PER_YEAR
    idx = np.clip(np.searchsorted(np.asarray(bands, float), age, side="right") - 1, 0, len(bands) - 1)
    return np.asarray(band_labels(bands), dtype=object)[idx]
