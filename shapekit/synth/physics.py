r"""Process model of a precipitation-hardened 7xxx-like (Al-Zn-Mg) alloy: aging -> structure -> HV.

The simulator's ground truth. Every function is vectorised over numpy arrays (scalars give 0-d
results) and deterministic; nothing here draws random numbers except :func:`sample_process`.

The model
---------
Aging at absolute temperature :math:`T` (K) for time :math:`t` (h), in the coarsening regime
(nucleation and growth are assumed complete; the precipitated fraction is at equilibrium).

1. **Coarsening** (Lifshitz-Slyozov-Wagner, LSW): the mean precipitate radius obeys

   .. math:: \bar r^3 - r_0^3 = K(T)\,t, \qquad K(T) = k_0 \exp(-Q / R T),

   with :math:`r_0` = ``R0_NM`` (radius at the start of coarsening), :math:`Q` = ``Q_COARSEN`` =
   115 kJ/mol (order of the activation energy of Zn and Mg diffusion in aluminium, 110-130 kJ/mol)
   and :math:`k_0` fixed by ``K_REF`` = 137.6 nm^3/h at ``T_REF`` = 220 C; :math:`r_0` = 4 nm.
   The radii follow the LSW size distribution (:func:`lsw_pdf`; mean 1 in units of
   :math:`\bar r`, cut off at 1.5).
2. **Fraction** from a solvus: the solute left in the matrix is
   :math:`c_e(T) = c_{e,ref} \exp[-\Delta H_s/R\,(1/T - 1/T_{ref})]` (``DH_SOLVUS`` = 45 kJ/mol,
   ``CE_REF`` = 0.04 at 220 C); the lever rule gives the volume fraction
   :math:`f = (c_0 - c_e)/(c_p - c_e)` with alloy solute ``C0`` = 0.16 and precipitate solute
   ``CP`` = 1 (MgZn2 counted as pure solute in this pseudo-binary). The solvus (f = 0) lies at
   ``SOLVUS_C`` = 291 C. (C0 is about three times a real 7075's Zn+Mg so that over-aged fields
   still hold enough particles to measure.) By Delesse's principle the imaged **area fraction**
   equals :math:`f`; the imaged particles are taken as their full discs (deep-etched
   secondary-electron imaging), so imaged radius = radius. Above the solvus f = 0 (a solid
   solution: the temper label then only reflects the nominal radius: stay inside ``DOMAIN``);
   the coarsening model describes precipitates below it, and the micrograph simulator
   (:func:`shapekit.synth.render_micrograph`) refuses temperatures at or above it.
3. **Number density** of the section: :math:`N_A = f / (\pi \langle r^2 \rangle)` with
   :math:`\langle r^2\rangle = \bar r^2\,m_2`, :math:`m_2 = E[\rho^2]` of the LSW distribution.
4. **Grain boundaries**: boundary precipitates coarsen faster (boundary diffusion):
   radius :math:`r_{gb} = 1.6\,\bar r` (``GB_RADIUS_FACTOR``). The precipitate-free zone (PFZ)
   half-width widens as the boundary particles drain solute (phenomenological, linear in the
   coarsening): :math:`w = w_0 + \kappa(\bar r - r_0)`, ``PFZ_W0_NM`` = 6 nm, ``PFZ_KAPPA`` = 1.5.
5. **Strength** (Shercliff & Ashby 1990; Deschamps & Brechet 1999): weak shearable particles give
   :math:`\Delta\sigma_{sh} = C \ln(2 r_c/b)\,\sqrt{f\,\bar r}/r_c^{3/2}`; strong particles are
   bypassed by Orowan looping (Ashby-Orowan equation),
   :math:`\Delta\sigma_{or} = M\,\frac{0.4\,G b}{\pi\sqrt{1-\nu}}\,\frac{\ln(2\bar r/b)}{L}`
   with the planar spacing :math:`L = \bar r \sqrt{2\pi/(3 f)}`, i.e.
   :math:`\Delta\sigma_{or} = C \ln(2\bar r/b) \sqrt f/\bar r`,
   :math:`C = M\,0.4\,G b \sqrt{3/(2\pi)}/(\pi\sqrt{1-\nu})` (Taylor factor M = 3.06, shear
   modulus G = 26.9 GPa, Burgers vector b = 0.286 nm, Poisson ratio 0.33: aluminium). The
   shearing prefactor is chosen so both meet at the critical radius :math:`r_c` = ``RC_NM`` =
   8 nm; the particle contribution is :math:`\min(\Delta\sigma_{sh}, \Delta\sigma_{or})`, so
   it **peaks at** :math:`\bar r = r_c`
   whatever f. Yield strength :math:`\sigma_y = \sigma_0 + \Delta\sigma_p` (``SIGMA0_MPA`` = 80
   MPa lumps lattice friction, grain size and residual solid solution) and Tabor's relation gives
   the Vickers hardness :math:`HV = 3\sigma_y / g` (g = 9.807: MPa -> kgf/mm^2).
6. **Temper** from :math:`\rho = \bar r / r_c`: under-aged :math:`\rho < 0.8`, peak-aged
   :math:`0.8 \le \rho \le 1.25`, over-aged :math:`\rho > 1.25`.

**The hardness map is many-to-one.** Hardness rises with :math:`\sqrt{f\bar r}` while shearing
and falls as :math:`\sqrt f/\bar r` once particles are looped, so every hardness below the peak is
reached twice along each isotherm, once under-aged and once over-aged (and, because f depends on
T, along whole curves of the (T, t) plane). Hardness alone does not determine the process or the
temper; the microstructure (radius, PFZ width) does.

Parameter domain (``DOMAIN``): 120-220 C and 0.1-100 h (sample time on a log scale). In it the mean
radius runs from 4 nm to 24 nm, the fraction from 0.158 (120 C) to 0.125 (220 C) and the hardness
from 83 HV (220 C, 100 h) over peaks of 162-174 HV (220 C at 3.3 h, 200 C at 10.7 h, 180 C at
38.7 h) down to 125-135 HV on the as-quenched side (a T6 7075: about 175 HV). Under-aged states
cover about 79 % of the (T, log t) plane, peak-aged 12 %, over-aged 9 % (the hot, long corner);
:func:`sample_process` balances them by rejection.

The constants describe a model alloy tuned so the three tempers occur inside the domain and the
particles are visible at 2 nm/px (``UM_PER_PX_DEFAULT``: r_0 = 2 px, r_c = 4 px, up to 12 px);
they are representative of 7xxx alloys, not a calibration of one (a real 7075 peaks at r_c of
3-5 nm, 120 C / 24 h).

References
----------
.. [1] I. M. Lifshitz, V. V. Slyozov, J. Phys. Chem. Solids 19, 35 (1961); C. Wagner,
   Z. Elektrochem. 65, 581 (1961): coarsening law and size distribution.
.. [2] H. R. Shercliff, M. F. Ashby, Acta Metall. Mater. 38, 1789 (1990): a process model for
   age hardening of aluminium alloys (shearing vs Orowan, peak at a critical radius).
.. [3] A. Deschamps, Y. Brechet, Acta Mater. 47, 293 (1999): precipitation and strengthening.
.. [4] D. Tabor, The Hardness of Metals (1951): H ~ 3 sigma_y.
.. [5] J. W. Martin, Precipitation Hardening, 2nd ed. (Butterworth-Heinemann, 1998): the
   Ashby-Orowan equation and the planar particle spacing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shapekit.errors import InputError

TEMPERS: tuple[str, str, str] = ("under_aged", "peak_aged", "over_aged")

R_GAS = 8.314462618  # J/(mol K)
KELVIN = 273.15
T_REF_C = 220.0
Q_COARSEN = 115e3  # J/mol
K_REF = 137.6  # nm^3/h at T_REF_C
R0_NM = 4.0
RC_NM = 8.0
TEMPER_BOUNDS = (0.8, 1.25)  # r / r_c
DH_SOLVUS = 45e3  # J/mol
CE_REF = 0.04  # matrix solute at T_REF_C
C0 = 0.16
CP = 1.0
GB_RADIUS_FACTOR = 1.6
PFZ_W0_NM = 6.0
PFZ_KAPPA = 1.5
TAYLOR_M = 3.06
SHEAR_G_MPA = 26.9e3
POISSON_NU = 0.33
BURGERS_NM = 0.286
SIGMA0_MPA = 80.0
G_ACC = 9.807
C_OROWAN = (TAYLOR_M * 0.4 * SHEAR_G_MPA * BURGERS_NM / (np.pi * np.sqrt(1.0 - POISSON_NU))
             * np.sqrt(3.0 / (2.0 * np.pi)))  # MPa nm, times ln(2r/b)
UM_PER_PX_DEFAULT = 0.002
DOMAIN: dict[str, tuple[float, float]] = {"aging_temperature_C": (120.0, 220.0),
                                          "aging_time_h": (0.1, 100.0)}
#: the solvus (C): the matrix holds all the alloy's solute (c_e(T) = C0) and no precipitate is left
SOLVUS_C = 1.0 / (1.0 / (T_REF_C + KELVIN) - R_GAS / DH_SOLVUS * np.log(C0 / CE_REF)) - KELVIN


def lsw_pdf(rho: np.ndarray) -> np.ndarray:
    r"""LSW radius distribution :math:`h(\rho)`, :math:`\rho = r/\bar r` (zero outside (0, 1.5)).

    References
    ----------
    Lifshitz & Slyozov (1961); Wagner (1961).

    Examples
    --------
    >>> import numpy as np
    >>> rho = np.linspace(0, 1.5, 20001)
    >>> area, mean = np.trapezoid(lsw_pdf(rho), rho), np.trapezoid(rho * lsw_pdf(rho), rho)
    >>> round(float(area), 3), round(float(mean), 3)
    (1.0, 1.0)
    """
    rho = np.asarray(rho, dtype=float)
    out = np.zeros_like(rho)
    ok = (rho > 0) & (rho < 1.5)
    x = rho[ok]
    out[ok] = ((4.0 / 9.0) * x**2 * (3.0 / (3.0 + x)) ** (7.0 / 3.0)
               * (1.5 / (1.5 - x)) ** (11.0 / 3.0) * np.exp(-x / (1.5 - x)))
    return out


_RHO = np.linspace(0.0, 1.5, 4001)
_PDF = lsw_pdf(_RHO)
_CDF = np.concatenate([[0.0], np.cumsum(0.5 * (_PDF[1:] + _PDF[:-1]) * np.diff(_RHO))])
_CDF /= _CDF[-1]
LSW_M2 = float(np.trapezoid(_RHO**2 * _PDF, _RHO) / np.trapezoid(_PDF, _RHO))


def sample_lsw(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` normalised radii ``r / mean`` from the LSW distribution (inverse CDF).

    Examples
    --------
    >>> import numpy as np
    >>> x = sample_lsw(20000, np.random.default_rng(0))
    >>> bool(abs(x.mean() - 1) < 0.01 and x.max() < 1.5)
    True
    """
    return np.interp(rng.random(int(n)), _CDF, _RHO)


def _check(temperature_C: Any, time_h: Any) -> tuple[np.ndarray, np.ndarray]:
    T = np.asarray(temperature_C, dtype=float)
    t = np.asarray(time_h, dtype=float)
    if not np.all(np.isfinite(T)) or np.any(T <= -KELVIN):
        raise InputError("aging temperature must be finite and above -273.15 C, "
                         f"got {T.ravel()[:5]}")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise InputError(f"aging time must be finite and >= 0 h, got {t.ravel()[:5]}")
    return np.broadcast_arrays(T, t)


def coarsening_rate(temperature_C: Any) -> np.ndarray:
    """LSW rate constant K(T) in nm^3/h (Arrhenius, ``Q_COARSEN``).

    Examples
    --------
    >>> float(coarsening_rate(220.0))
    137.6
    """
    T = np.asarray(temperature_C, dtype=float) + KELVIN
    return K_REF * np.exp(-Q_COARSEN / R_GAS * (1.0 / T - 1.0 / (T_REF_C + KELVIN)))


def mean_radius(temperature_C: Any, time_h: Any) -> np.ndarray:
    """Mean precipitate radius (nm): r^3 = r0^3 + K(T) t.

    Examples
    --------
    >>> float(mean_radius(220.0, 0.0))
    4.0
    >>> bool(mean_radius(200.0, 10.0) > mean_radius(180.0, 10.0) > mean_radius(180.0, 1.0))
    True
    """
    T, t = _check(temperature_C, time_h)
    return np.cbrt(R0_NM**3 + coarsening_rate(T) * t)


def volume_fraction(temperature_C: Any) -> np.ndarray:
    """Equilibrium precipitate volume (= area) fraction from the solvus and lever rule.

    Examples
    --------
    >>> round(float(volume_fraction(220.0)), 4)
    0.125
    >>> float(volume_fraction(400.0))
    0.0
    """
    T = np.asarray(temperature_C, dtype=float) + KELVIN
    ce = CE_REF * np.exp(-DH_SOLVUS / R_GAS * (1.0 / T - 1.0 / (T_REF_C + KELVIN)))
    with np.errstate(divide="ignore", invalid="ignore"):  # ce = CP far above the solvus
        return np.where(ce < C0, (C0 - ce) / (CP - ce), 0.0)


def strength_from_structure(f: Any, r_nm: Any) -> np.ndarray:
    """Yield strength (MPa) from fraction and mean radius: sigma0 + min(shearing, Orowan).

    Examples
    --------
    >>> s = strength_from_structure(0.08, [4.0, 8.0, 16.0])
    >>> bool(s[1] > s[0] and s[1] > s[2])
    True
    """
    f = np.asarray(f, dtype=float)
    r = np.maximum(np.asarray(r_nm, dtype=float), 1.0)
    orowan = C_OROWAN * np.log(2.0 * r / BURGERS_NM) * np.sqrt(f) / r
    shear = C_OROWAN * np.log(2.0 * RC_NM / BURGERS_NM) * np.sqrt(f * r) / RC_NM**1.5
    return SIGMA0_MPA + np.minimum(shear, orowan)


def temper_from_radius(r_nm: Any) -> np.ndarray:
    """Temper label from the mean radius relative to the critical radius.

    Examples
    --------
    >>> temper_from_radius([4.0, 8.0, 12.0]).tolist()
    ['under_aged', 'peak_aged', 'over_aged']
    """
    rho = np.asarray(r_nm, dtype=float) / RC_NM
    idx = (rho >= TEMPER_BOUNDS[0]).astype(int) + (rho > TEMPER_BOUNDS[1]).astype(int)
    return np.asarray(TEMPERS, dtype=object)[idx]


def process_model(temperature_C: Any, time_h: Any) -> dict[str, Any]:
    """Structure, hardness and temper after aging (vectorised; see the module docstring).

    Parameters
    ----------
    temperature_C, time_h : float or array-like
        Aging temperature (C) and time (h); broadcast against each other.

    Returns
    -------
    dict
        ``mean_radius_nm``, ``critical_radius_nm``, ``volume_fraction``, ``area_fraction``,
        ``number_density_per_um2``, ``gb_radius_nm``, ``pfz_width_nm`` (half-width),
        ``solute_in_matrix``, ``strength_MPa``, ``hardness_HV`` (float arrays) and ``temper``
        (object array of :data:`TEMPERS` names). 0-d arrays for scalar input.

    References
    ----------
    Lifshitz & Slyozov (1961), Wagner (1961), Shercliff & Ashby (1990), Tabor (1951).

    Examples
    --------
    >>> m = process_model([150.0, 220.0], [1.0, 100.0])
    >>> m["temper"].tolist()
    ['under_aged', 'over_aged']
    >>> bool(m["pfz_width_nm"][1] > m["pfz_width_nm"][0])
    True
    """
    T, t = _check(temperature_C, time_h)
    r = mean_radius(T, t)
    f = volume_fraction(T)
    Tk = T + KELVIN
    ce = CE_REF * np.exp(-DH_SOLVUS / R_GAS * (1.0 / Tk - 1.0 / (T_REF_C + KELVIN)))
    sigma = strength_from_structure(f, r)
    return {
        "mean_radius_nm": r,
        "critical_radius_nm": np.full_like(r, RC_NM),
        "volume_fraction": f,
        "area_fraction": f.copy(),
        "number_density_per_um2": f / (np.pi * LSW_M2 * r**2) * 1e6,
        "gb_radius_nm": GB_RADIUS_FACTOR * r,
        "pfz_width_nm": PFZ_W0_NM + PFZ_KAPPA * (r - R0_NM),
        "solute_in_matrix": np.minimum(ce, C0),
        "strength_MPa": sigma,
        "hardness_HV": 3.0 * sigma / G_ACC,
        "temper": temper_from_radius(r),
    }


def hardness(temperature_C: Any, time_h: Any) -> np.ndarray:
    """Vickers hardness (HV) after aging; peaks where the mean radius equals ``RC_NM``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.logspace(-1, 2, 61)
    >>> h = hardness(220.0, t)
    >>> 0 < int(np.argmax(h)) < len(t) - 1
    True
    """
    return process_model(temperature_C, time_h)["hardness_HV"]


def temper_of(temperature_C: Any, time_h: Any) -> np.ndarray:
    """Temper name(s) (one of :data:`TEMPERS`) after aging.

    Examples
    --------
    >>> str(temper_of(220.0, 3.0))
    'peak_aged'
    """
    return process_model(temperature_C, time_h)["temper"]


def sample_process(n: int, rng: np.random.Generator | int | None = None, balanced: bool = True,
                   *, domain: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Draw aging conditions: temperature uniform, time log-uniform over ``DOMAIN``.

    Parameters
    ----------
    n : int
        Number of conditions (> 0).
    rng : numpy Generator or int seed
    balanced : bool
        If True, rejection sampling gives each temper ``n // 3`` rows (the remainder goes to the
        first tempers), in a shuffled order; else the raw domain distribution (mostly under-aged).
    domain : dict, optional
        Override of ``DOMAIN`` (same keys, (low, high) tuples, time low > 0).

    Returns
    -------
    pandas.DataFrame
        Columns ``aging_temperature_C``, ``aging_time_h``, ``temper``, ``hardness_HV``.

    Examples
    --------
    >>> df = sample_process(9, 0)
    >>> df["temper"].value_counts().tolist()
    [3, 3, 3]
    """
    n = int(n)
    if n <= 0:
        raise InputError(f"number of conditions must be > 0, got {n}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    dom = dict(DOMAIN if domain is None else domain)
    (t_lo, t_hi), (h_lo, h_hi) = dom["aging_temperature_C"], dom["aging_time_h"]
    if not (t_lo <= t_hi and 0 < h_lo <= h_hi):
        raise InputError(f"invalid process domain: {dom}")

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        T = rng.uniform(t_lo, t_hi, m)
        t = np.exp(rng.uniform(np.log(h_lo), np.log(h_hi), m))
        return T, t

    if not balanced:
        T, t = draw(n)
    else:
        want = {k: n // 3 + (1 if i < n % 3 else 0) for i, k in enumerate(TEMPERS)}
        got: dict[str, list[np.ndarray]] = {k: [] for k in TEMPERS}
        have = dict.fromkeys(TEMPERS, 0)
        for _ in range(200):
            if all(have[k] >= want[k] for k in TEMPERS):
                break
            T, t = draw(max(64, 4 * n))
            lab = temper_from_radius(mean_radius(T, t))
            for k in TEMPERS:
                sel = np.flatnonzero(lab == k)[: max(0, want[k] - have[k])]
                got[k].append(np.stack([T[sel], t[sel]], axis=1))
                have[k] += len(sel)
        missing = [k for k in TEMPERS if have[k] < want[k]]
        if missing:
            raise InputError(f"process domain {dom} holds (almost) no {missing[0]} conditions")
        rows = np.concatenate([np.concatenate(got[k]) for k in TEMPERS])
        rows = rows[rng.permutation(len(rows))]
        T, t = rows[:, 0], rows[:, 1]
    m = process_model(T, t)
    return pd.DataFrame({"aging_temperature_C": T, "aging_time_h": t,
                         "temper": m["temper"].astype(str), "hardness_HV": m["hardness_HV"]})
