"""GKE clusters: what the module plans for a cluster in ERROR, how it counts nodes, which names it refuses."""

from .test_resources import FakeApi, cluster_as_api_returns, run_cluster

URL = 'https://container.googleapis.com/v1/projects/p/locations/us-west2-a/clusters/west'


def cluster_in_error():
    api = FakeApi(cluster_as_api_returns)
    run_cluster(api)
    api.resources[URL].update(status='ERROR', statusMessage='Insufficient regional quota')
    return api


def test_absent_deletes_a_cluster_in_error_and_says_so():
    api = cluster_in_error()
    predicted = run_cluster(api, state='absent', check_mode=True)
    assert predicted['changed'] and predicted['diff']['before']['nodeCount'] == 5 and predicted['diff']['after'] == {}
    assert len(api.mutations) == 1 and URL in api.resources  # check mode deleted nothing
    result = run_cluster(api, state='absent')
    assert result['changed'] and result['changed_fields'] == predicted['changed_fields'] != []
    assert [m[0] for m in api.mutations] == ['POST', 'DELETE'] and URL not in api.resources
    assert result['diff'] == predicted['diff']


def test_present_replaces_a_cluster_in_error_and_the_plan_shows_it():
    api = cluster_in_error()
    predicted = run_cluster(api, check_mode=True)
    assert len(api.mutations) == 1 and api.resources[URL]['status'] == 'ERROR'  # check mode deleted nothing
    assert predicted['changed'] and predicted['diff']['before']['machineType'] == 'n1-standard-2'
    assert 'ERROR' in predicted['diff']['before_header'] and 'Insufficient regional quota' in predicted['diff']['before_header']
    assert 'deleted' in predicted['diff']['before_header'] and 'created again' in predicted['diff']['after_header']
    result = run_cluster(api)
    assert [m[0] for m in api.mutations] == ['POST', 'DELETE', 'POST'] and api.resources[URL]['status'] == 'RUNNING'
    assert result['changed'] and result['changed_fields'] == predicted['changed_fields']
    assert result['diff'] == predicted['diff'] and result['cluster']['status'] == 'RUNNING'
    assert any('was deleted and created again' in warning for warning in result['warnings'])
