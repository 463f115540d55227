"""Failures of Earth Engine, injected in the loopback server: retries with
exponential backoff on 429/5xx, timeouts and truncated bodies; clear errors for
everything else, and sign-in errors that say how to sign in without showing a token.
"""
import json

import numpy as np
import pytest

pytest.importorskip("ee")
from ee_test_server import TEST_PROJECT, make_credentials  # noqa: E402 - fixtures come from conftest.py

from rs_embed_qgis.engine import PointBuffer, ProviderError, SensorSpec, SpecError, TemporalSpec
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.providers.gee import HOW_TO_SIGN_IN, GEEProvider, ee_status

ROI = PointBuffer(9.02, 47.84, 300)
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")
S2 = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=10)


@pytest.fixture
def reference(make_gee, ee_env):
    data = make_gee().fetch(ROI, SUMMER, S2).data
    ee_env.reset()  # the test's request log starts empty
    return data


def test_429_is_retried_with_exponential_backoff(make_gee, ee_env, reference):
    ee_env.inject(match="computePixels", status=429, times=2)
    prov = make_gee(retry_backoff_s=0.05, retry_jitter=0.0)
    p = prov.fetch(ROI, SUMMER, S2)
    np.testing.assert_array_equal(p.data, reference)
    reqs = ee_env.requests("computePixels")
    assert [r["fault"]["status"] if r["fault"] else None for r in reqs] == [429, 429, None]
    assert prov.stats["retries"] == 2
    assert prov.stats["sleeps"] == pytest.approx([0.05, 0.10])
    gaps = np.diff([r["time"] for r in reqs])
    assert gaps[0] >= 0.05 and gaps[1] >= 0.10


def test_5xx_on_the_scene_listing_is_retried_too(make_gee, ee_env, reference):
    ee_env.inject(match="value:compute", status=503)
    ee_env.inject(match="value:compute", status=500)
    prov = make_gee()
    np.testing.assert_array_equal(prov.fetch(ROI, SUMMER, S2).data, reference)
    assert len(ee_env.requests("value:compute")) == 3 and prov.stats["retries"] == 2


def test_jitter_stays_within_its_fraction(make_gee, ee_env):
    ee_env.inject(match="computePixels", status=500, times=3)
    prov = make_gee(retry_backoff_s=0.02, retry_jitter=0.5, max_retries=3)
    prov.fetch(ROI, SUMMER, S2)
    for k, s in enumerate(prov.stats["sleeps"]):
        assert 0.02 * 2 ** k <= s <= 0.02 * 2 ** k * 1.5


def test_retry_after_header_is_honoured(make_gee, ee_env):
    ee_env.inject(match="computePixels", status=429, retry_after=0.3)
    prov = make_gee(retry_backoff_s=0.01)
    prov.fetch(ROI, SUMMER, S2)
    assert prov.stats["sleeps"][0] >= 0.3


def test_persistent_5xx_gives_up_with_a_clear_error(make_gee, ee_env):
    ee_env.inject(match="computePixels", status=500, times=10)
    prov = make_gee(max_retries=2, retry_backoff_s=0.01)
    with pytest.raises(ProviderError) as ei:
        prov.fetch(ROI, SUMMER, S2)
    msg = str(ei.value)
    assert "HTTP 500" in msg and "after 3 attempts" in msg and "max_retries" in msg
    assert len(ee_env.requests("computePixels")) == 3


def test_slow_answer_times_out_and_is_retried(make_gee, ee_env, reference):
    ee_env.inject(match="computePixels", slow=1.5)
    prov = make_gee(timeout=0.5)
    p = prov.fetch(ROI, SUMMER, S2)
    np.testing.assert_array_equal(p.data, reference)
    assert prov.stats["retries"] == 1


def test_truncated_body_is_retried(make_gee, ee_env, reference):
    ee_env.inject(match="computePixels", truncate=True)
    prov = make_gee()
    p = prov.fetch(ROI, SUMMER, S2)
    np.testing.assert_array_equal(p.data, reference)
    assert prov.stats["retries"] == 1
    assert ee_env.requests("computePixels")[0]["fault"]["truncate"] is True


def test_no_retries_when_max_retries_is_zero(make_gee, ee_env):
    ee_env.inject(match="computePixels", status=429)
    with pytest.raises(ProviderError, match=r"after 1 attempt \(last: HTTP 429"):
        make_gee(max_retries=0).fetch(ROI, SUMMER, S2)


def test_bad_request_is_not_retried(make_gee, ee_env):
    with pytest.raises(ProviderError, match="Pattern 'B99' did not match") as ei:
        make_gee().fetch(ROI, SUMMER, SensorSpec(collection=S2.collection, bands=("B99",)))
    assert "HTTP 400" in str(ei.value)
    assert len(ee_env.requests("computePixels")) == 1


def test_fetch_many_names_the_failing_roi(make_gee, ee_env):
    rois = [ROI, PointBuffer(9.03, 47.845, 200)]
    ee_env.inject(match="computePixels", status=500, times=50)
    with pytest.raises(ProviderError, match=r"ROI #\d"):
        make_gee(max_retries=0).fetch_many(rois, SUMMER, S2, num_workers=2)


# -- sign-in ------------------------------------------------------------------------------------
def test_rejected_token_says_how_to_sign_in_and_hides_the_token(ee_env):
    secret = "ya29.secret-token-value"
    prov = GEEProvider(project=TEST_PROJECT, credentials=make_credentials(secret), opt_url=ee_env.url,
                       cache_dir=None)
    with pytest.raises(ProviderError) as ei:
        prov.fetch(ROI, SUMMER, S2)
    msg = str(ei.value)
    assert "earthengine authenticate" in msg and "service-account key" in msg
    assert TEST_PROJECT in msg
    assert secret not in msg


def test_project_without_access_is_named(ee_env, ee_credentials):
    prov = GEEProvider(project="someone-elses-project", credentials=ee_credentials,
                       opt_url=ee_env.url, cache_dir=None)
    with pytest.raises(ProviderError, match="someone-elses-project") as ei:
        prov.initialize()
    assert "HTTP 403" in str(ei.value)


def test_missing_project_is_explained(ee_env, ee_credentials, monkeypatch):
    for var in ("RS_EMBED_GEE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    prov = GEEProvider(credentials=ee_credentials, opt_url=ee_env.url, cache_dir=None)
    with pytest.raises(ProviderError, match="no Earth Engine project.*RS_EMBED_GEE_PROJECT"):
        prov.initialize()


def test_project_from_environment(ee_env, ee_credentials, monkeypatch):
    monkeypatch.setenv("RS_EMBED_GEE_PROJECT", TEST_PROJECT)
    prov = GEEProvider(credentials=ee_credentials, opt_url=ee_env.url, cache_dir=None)
    prov.initialize()
    assert prov.active_project == TEST_PROJECT


def test_not_signed_in_on_this_computer(ee_env, monkeypatch, tmp_path):
    import google.auth.compute_engine._metadata as md

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/earthengine/credentials
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr(md, "_NO_GCE_CHECK", True)  # do not probe a GCE metadata server
    prov = GEEProvider(project=TEST_PROJECT, opt_url=ee_env.url, cache_dir=None)
    with pytest.raises(ProviderError, match="not signed in.*earthengine authenticate"):
        prov.initialize()


def test_service_account_key_errors_name_the_file(ee_env, tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ProviderError, match="nope.json"):
        GEEProvider(project=TEST_PROJECT, credentials=str(missing), opt_url=ee_env.url).initialize()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProviderError, match="bad.json.*JSON key"):
        GEEProvider(project=TEST_PROJECT, credentials=str(bad), opt_url=ee_env.url).initialize()


def _service_account_key(path, token_uri):
    pytest.importorskip("cryptography")  # google-auth signs the JWT with it
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": TEST_PROJECT, "private_key_id": "k1",
        "private_key": pem, "client_email": f"robot@{TEST_PROJECT}.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_uri}))
    return path


def test_service_account_key_signs_in_and_fetches(ee_env, tmp_path):
    key = _service_account_key(tmp_path / "key.json", ee_env.url + "/token")
    prov = GEEProvider(credentials=str(key), opt_url=ee_env.url, cache_dir=None)  # project from the key
    p = prov.fetch(ROI, SUMMER, S2)
    assert p.frames[0]["n_scenes"] == 3 and prov.active_project == TEST_PROJECT
    (tok,) = ee_env.requests("/token")
    assert tok["body"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_authorized_user_file_refreshes_its_token(ee_env, tmp_path, monkeypatch):
    import google.oauth2.credentials as user_creds

    # google-auth always sends user refresh tokens to Google's endpoint; point it at loopback
    monkeypatch.setattr(user_creds, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", ee_env.url + "/token")
    f = tmp_path / "adc.json"
    f.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s",
                             "refresh_token": "test-refresh", "token_uri": ee_env.url + "/token"}))
    prov = GEEProvider(project=TEST_PROJECT, credentials=str(f), opt_url=ee_env.url, cache_dir=None)
    prov.initialize()
    assert ee_env.requests("/token")[0]["body"]["grant_type"] == "refresh_token"


def test_nan_fill_value_is_not_sent_as_json_nan(make_gee, ee_env):
    s = SensorSpec(collection=S2.collection, bands=("B4",), fill_value=float("nan"), cloudy_pct=100)
    p = make_gee().fetch(ROI, TemporalSpec.range("2022-10-01", "2023-01-01"), s, frames=3)
    assert np.isnan(p.data[2]).all() and not np.isnan(p.data[0]).any()
    expr = ee_env.requests("computePixels")[0]["body"]["expression"]
    assert "NaN" not in json.dumps(expr)


def test_ee_status_for_the_gui(ee_env, ee_credentials):
    ok = ee_status(TEST_PROJECT, credentials=ee_credentials, opt_url=ee_env.url)
    assert ok["ok"] is True and ok["project"] == TEST_PROJECT and "ready" in ok["message"]
    bad = ee_status(TEST_PROJECT, credentials=make_credentials("tok-XYZ-123"), opt_url=ee_env.url)
    assert bad["ok"] is False and "rejected the credentials" in bad["message"]
    assert "tok-XYZ-123" not in bad["message"]
    assert "earthengine authenticate" in bad["how_to_sign_in"]
    assert bad["how_to_sign_in"] == HOW_TO_SIGN_IN


def test_ee_status_is_exported_lazily():
    import rs_embed_qgis.engine as engine

    assert engine.ee_status is ee_status


def test_bad_options_are_spec_errors():
    with pytest.raises(SpecError, match="max_retries"):
        GEEProvider(max_retries=-1)
    with pytest.raises(SpecError, match="num_workers"):
        GEEProvider(num_workers=0)
    with pytest.raises(SpecError, match="cloud_mask"):
        GEEProvider(cloud_mask="fmask")


@pytest.mark.skipif("os.environ.get('RS_EMBED_LIVE_GEE') != '1'")
def test_live_earth_engine():
    """Opt-in: RS_EMBED_LIVE_GEE=1 with a signed-in account and RS_EMBED_GEE_PROJECT."""
    prov = GEEProvider(cache_dir=None)
    roi = PointBuffer(121.5, 31.2, 640)
    p = prov.fetch(roi, SUMMER, S2)
    g = roi_grid(roi, 10)
    assert p.data.shape == (1, 3, g.height, g.width)
    assert p.frames[0]["n_scenes"] > 0 and float(p.data.mean()) > 0


def test_option_table_matches_the_constructor():
    import inspect

    from rs_embed_qgis.engine.providers.gee import GEE_OPTIONS

    params = inspect.signature(GEEProvider).parameters
    for opt in GEE_OPTIONS:
        assert opt["name"] in params and opt["help"]
        assert params[opt["name"]].default == opt["default"]


@pytest.mark.skipif("os.environ.get('RS_EMBED_LIVE_GEE') != '1'")
def test_live_google_satellite_embedding():
    """Opt-in: the real annual embedding product, unit-length 64-d vectors."""
    from rs_embed_qgis.engine import BBox, OutputSpec, get_embedding

    emb = get_embedding("gse", spatial=BBox(121.48, 31.19, 121.50, 31.21),
                        temporal=TemporalSpec.year(2023), output=OutputSpec.grid(), backend="gee",
                        provider_options={"cache_dir": None})
    norms = np.linalg.norm(emb.array.reshape(64, -1), axis=0)
    norms = norms[np.isfinite(norms)]
    assert norms.size and np.allclose(norms, 1.0, atol=0.02)


def test_default_endpoint_is_passed_explicitly(ee_credentials, monkeypatch):
    """ee keeps the last URL when Initialize gets none: the provider always passes its own."""
    import ee

    seen = []

    def fake_initialize(**kw):  # no request leaves this machine
        seen.append(kw["opt_url"])
        raise ConnectionError("offline test")

    monkeypatch.setattr(ee, "Initialize", fake_initialize)
    for high_volume, url in ((False, "https://earthengine.googleapis.com"),
                             (True, "https://earthengine-highvolume.googleapis.com")):
        prov = GEEProvider(project=TEST_PROJECT, credentials=ee_credentials, cache_dir=None,
                           high_volume=high_volume)
        assert prov.endpoint == url
        with pytest.raises(ProviderError, match="cannot reach Earth Engine"):
            prov.initialize()
    assert seen == ["https://earthengine.googleapis.com", "https://earthengine-highvolume.googleapis.com"]
