"""Vegetation reflectance forecasting: ConvLSTM + Fourier decoder on GreenEarthNet minicubes.

Modules (imported on use, torch is heavy): ``model``, ``data``, ``losses``, ``checkpoint``,
``train``, ``predict`` (``forecast_to_geotiffs``), ``scoring``, ``analysis``. See docs/forecast.md.
"""
