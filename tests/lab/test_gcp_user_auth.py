"""User credentials in the GCP stand-in, as `gcloud auth application-default login` leaves them: google-auth's
Application Default Credentials use the authorized_user file unchanged (the refresh_token grant), the tokeninfo
endpoint names the user when the token has the email scope, and GKE's webhooks know the user as a lab account."""

import base64
import json
import pathlib

import google.auth
import requests
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from lab.gcp.gke_webhooks import iam_allows
from tests.lab.gcp_lab import PROJECT

TOKEN_URI = 'https://oauth2.googleapis.com/token'
TOKENINFO_URI = 'https://oauth2.googleapis.com/tokeninfo'
ZONE_URL = 'https://compute.googleapis.com/compute/v1/projects/%s/zones/us-west2-a' % PROJECT
USER = 'someone@example.com'
CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform'
EMAIL = 'https://www.googleapis.com/auth/userinfo.email'


def _user_file(gcp, tmp_path, **options):
    path = str(tmp_path / 'application_default_credentials.json')
    gcp.authority.create_user_credentials(path, USER, PROJECT, **options)
    return path


def test_application_default_credentials_of_a_user_call_the_api(gcp, lab_env, tmp_path, monkeypatch):
    path = _user_file(gcp, tmp_path)
    with open(path, encoding='utf-8') as handle:
        document = json.load(handle)
    assert document['type'] == 'authorized_user'
    assert {'client_id', 'client_secret', 'refresh_token'} <= set(document)
    monkeypatch.setenv('GOOGLE_APPLICATION_CREDENTIALS', path)
    credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM, EMAIL])
    response = AuthorizedSession(credentials).get(ZONE_URL)
    assert response.status_code == 200, response.text
    assert credentials.token.startswith('ya29.')


def test_the_well_known_file_in_cloudsdk_config_is_found(gcp, lab_env, monkeypatch):
    path = _user_file(gcp, pathlib.Path(lab_env['CLOUDSDK_CONFIG']))
    monkeypatch.delenv('GOOGLE_APPLICATION_CREDENTIALS', raising=False)
    credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM])
    credentials.refresh(Request())
    with open(path, encoding='utf-8') as handle:
        assert credentials.refresh_token == json.load(handle)['refresh_token']


def test_tokeninfo_names_the_user_only_with_the_email_scope(gcp, lab_env, tmp_path):
    path = _user_file(gcp, tmp_path)
    with open(path, encoding='utf-8') as handle:
        document = json.load(handle)
    form = {'grant_type': 'refresh_token', 'client_id': document['client_id'],
            'client_secret': document['client_secret'], 'refresh_token': document['refresh_token']}
    with_email = requests.post(TOKEN_URI, data=dict(form, scope='%s %s' % (CLOUD_PLATFORM, EMAIL)), timeout=10).json()
    assert with_email['token_type'] == 'Bearer' and set(with_email['scope'].split()) == {CLOUD_PLATFORM, EMAIL}
    info = requests.get(TOKENINFO_URI, params={'access_token': with_email['access_token']}, timeout=10).json()
    assert info['email'] == USER and info['email_verified'] == 'true' and info['aud'] == document['client_id']
    assert int(info['expires_in']) > 3000 and info['access_type'] == 'offline'

    without = requests.post(TOKEN_URI, data=dict(form, scope=CLOUD_PLATFORM), timeout=10).json()
    info = requests.get(TOKENINFO_URI, params={'access_token': without['access_token']}, timeout=10).json()
    assert 'email' not in info and info['scope'] == CLOUD_PLATFORM
    # No scope asked for: the scopes granted at login, email among them.
    granted = requests.post(TOKEN_URI, data=form, timeout=10).json()
    assert EMAIL in granted['scope'].split() and 'openid' in granted['scope'].split()

    refused = requests.get(TOKENINFO_URI, params={'access_token': 'ya29.not-issued'}, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == {'error': 'invalid_token', 'error_description': 'Invalid Value'}


def test_tokeninfo_of_a_service_account_token(gcp, key_file, lab_env):
    with open(key_file, encoding='utf-8') as handle:
        key = json.load(handle)
    credentials = service_account.Credentials.from_service_account_file(key_file, scopes=[CLOUD_PLATFORM, EMAIL])
    credentials.refresh(Request())
    info = requests.post(TOKENINFO_URI, data={'access_token': credentials.token}, timeout=10).json()
    assert info['email'] == key['client_email'] and info['sub'] == key['client_id']


def test_the_refresh_grant_is_refused_as_google_refuses_it(gcp, lab_env, tmp_path):
    path = _user_file(gcp, tmp_path, scopes=[CLOUD_PLATFORM])
    with open(path, encoding='utf-8') as handle:
        document = json.load(handle)
    form = {'grant_type': 'refresh_token', 'client_id': document['client_id'],
            'client_secret': document['client_secret'], 'refresh_token': document['refresh_token']}
    # A scope the user never granted.
    answer = requests.post(TOKEN_URI, data=dict(form, scope='https://www.googleapis.com/auth/compute.readonly'),
                           timeout=10)
    assert answer.status_code == 400 and answer.json()['error'] == 'invalid_scope'
    assert answer.json()['error_description'] == (
        'Some requested scopes were invalid. {invalid=[https://www.googleapis.com/auth/compute.readonly]}')
    # The client's secret in an HTTP Basic header works as well as in the form ...
    basic = base64.b64encode(('%s:%s' % (document['client_id'], document['client_secret'])).encode()).decode()
    answer = requests.post(TOKEN_URI, data={'grant_type': 'refresh_token', 'refresh_token': document['refresh_token']},
                           headers={'Authorization': 'Basic ' + basic}, timeout=10)
    assert answer.status_code == 200, answer.text
    # ... a wrong one does not.
    answer = requests.post(TOKEN_URI, data=dict(form, client_secret='wrong'), timeout=10)
    assert answer.status_code == 401 and answer.json()['error'] == 'invalid_client'
    answer = requests.post(TOKEN_URI, data=dict(form, client_id='1-other.apps.googleusercontent.com'), timeout=10)
    assert answer.status_code == 401 and answer.json()['error_description'] == 'The OAuth client was not found.'
    gcp.authority.revoke_user_credentials(USER)
    answer = requests.post(TOKEN_URI, data=form, timeout=10)
    assert answer.status_code == 400 and answer.json() == {'error': 'invalid_grant',
                                                           'error_description': 'Token has been expired or revoked.'}


def test_gke_knows_the_user_as_a_lab_account(gcp, lab_env, tmp_path):
    path = _user_file(gcp, tmp_path)
    credentials = user_credentials.Credentials.from_authorized_user_file(path, scopes=[CLOUD_PLATFORM, EMAIL])
    credentials.refresh(Request())
    assert gcp.authority.identify(credentials.token) == USER
    assert USER in gcp.authority.accounts()
    assert iam_allows({'group': 'rbac.authorization.k8s.io', 'resource': 'clusterrolebindings', 'verb': 'create'})
