"""The mesh_verify_tally filter: the checks mesh_verify's inputs ask for, counted from the inputs, and how many of them
were proven; a check asked for that did not run is a failure, one turned off on purpose is unproven.

Imported when a test runs (see test_mesh_registration_filter.py for why)."""

import pytest

VMS = [{'name': 'istio-gce', 'services': [{'name': 'productcatalogservice', 'port': 3550}]},
       {'name': 'istio-gce-2', 'machine_type': 'e2-medium',
        'services': [{'name': 'currencyservice', 'port': 7000}, {'name': 'shippingservice', 'port': 50051}]}]
TARGETS = ['istio-gce/productcatalogservice', 'istio-gce-2/currencyservice', 'istio-gce-2/shippingservice']


def tally(results, vms=None, **options):
    from ansible_collections.meshbridge.istio_vm.plugins.filter.mesh_verify_tally import FilterModule
    return FilterModule().filters()['mesh_verify_tally'](results, VMS if vms is None else vms, **options)


def _result(check, target, status='passed', detail='seen'):
    return {'check': check, 'target': target, 'status': status, 'detail': detail}


def _all_passed(grpc=True):
    results = [_result('WorkloadEntry', 'istio-gce'), _result('WorkloadEntry', 'istio-gce-2')]
    for target in TARGETS:
        results.append(_result('Service selects VM', target))
        if grpc:
            results += [_result('mTLS call', target), _result('cleartext refused', target)]
    return results


def test_every_vm_service_in_each_direction_is_asked_for_and_proven():
    counted = tally(_all_passed() + [_result('storefront', 'ingress', 'skipped', 'not proven ...')])
    assert (counted['required'], counted['proven'], counted['failed'], counted['unproven'], counted['missing']) == (11, 11, 0, 1, [])


def test_a_vm_service_without_its_calls_is_short_of_the_minimum():
    # The results of one service's calls are missing (a loop that lost a target): asked for, so failed, not passed.
    results = [result for result in _all_passed() if not (result['target'] == 'istio-gce-2/shippingservice'
                                                          and result['check'] in ('mTLS call', 'cleartext refused'))]
    counted = tally(results)
    assert counted['required'] == 11 and counted['proven'] == 9 and counted['failed'] == 2
    assert counted['missing'] == [{'check': 'mTLS call', 'target': 'istio-gce-2/shippingservice'},
                                  {'check': 'cleartext refused', 'target': 'istio-gce-2/shippingservice'}]
    added = counted['results'][-2:]
    assert [(result['check'], result['target'], result['status']) for result in added] == [
        ('mTLS call', 'istio-gce-2/shippingservice', 'failed'), ('cleartext refused', 'istio-gce-2/shippingservice', 'failed')]
    assert added[0]['detail'] == 'asked for, but no result was recorded: the check did not run'


def test_a_check_asked_for_that_was_skipped_fails_with_its_reason():
    results = _all_passed(grpc=False) + [_result('mTLS call', target, 'skipped', 'the controller could not') for target in TARGETS]
    counted = tally(results, grpc=True)
    skipped = [result for result in counted['results'] if result['check'] == 'mTLS call']
    assert {result['status'] for result in skipped} == {'failed'}
    assert skipped[0]['detail'] == 'asked for, but did not run, so nothing is proven: the controller could not'
    assert counted['unproven'] == 0 and counted['failed'] == 6 and counted['proven'] == 5


def test_checks_turned_off_on_purpose_are_unproven_not_failed():
    skipped = [_result(check, target, 'skipped', 'not asked for') for check in ('mTLS call', 'cleartext refused')
               for target in TARGETS]
    counted = tally(_all_passed(grpc=False) + skipped, grpc=False)
    assert (counted['required'], counted['proven'], counted['failed'], counted['unproven'], counted['missing']) == (5, 5, 0, 6, [])
    assert [result['status'] for result in counted['results']].count('skipped') == 6


def test_the_input_results_are_not_changed():
    results = [_result('WorkloadEntry', 'istio-gce', 'skipped', 'x')]
    tally(results, vms=VMS[:1], grpc=False)
    assert results == [_result('WorkloadEntry', 'istio-gce', 'skipped', 'x')]


@pytest.mark.parametrize('check_mode, asked', [
    (False, ['storefront home', 'storefront product page', 'storefront add to cart', 'storefront checkout']),
    (True, ['storefront home', 'storefront product page']),
])
def test_the_storefront_steps_asked_for(check_mode, asked):
    steps = [_result(step, 'http://shop/x') for step in asked]
    counted = tally(_all_passed() + steps, storefront=True, check_mode=check_mode)
    assert counted['required'] == 11 + len(asked) and counted['failed'] == 0
    counted = tally(_all_passed(), storefront=True, check_mode=check_mode)
    assert [missing['check'] for missing in counted['missing']] == asked


def test_kiali_asked_for_and_failed_stays_failed():
    counted = tally(_all_passed() + [_result('Kiali graph', 'default', 'failed', 'HTTP 401')], kiali=True)
    assert counted['failed'] == 1 and counted['results'][-1]['detail'] == 'HTTP 401'
    assert counted['missing'] == [{'check': 'Kiali graph', 'target': '-'}]


def test_bad_input_is_refused():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError):
        tally({'check': 'x'})


def _from_inside(check_mode=False):
    """The results of the checks made from inside the mesh: a client pod calls each VM service, each VM a cluster
    service."""
    results = [] if check_mode else [_result('pod to VM', target) for target in TARGETS]
    return results + [_result('VM to cluster', 'istio-gce'), _result('VM to cluster', 'istio-gce-2')]


def test_the_checks_from_inside_the_mesh_are_one_per_vm_service_and_one_per_vm():
    counted = tally(_all_passed(grpc=False) + _from_inside(), grpc=False, from_cluster=True, from_vms=True)
    assert (counted['required'], counted['proven'], counted['failed'], counted['missing']) == (5 + 3 + 2, 10, 0, [])


def test_a_check_from_inside_the_mesh_that_recorded_nothing_fails():
    results = [result for result in _all_passed(grpc=False) + _from_inside()
               if (result['check'], result['target']) not in (('pod to VM', 'istio-gce-2/shippingservice'),
                                                              ('VM to cluster', 'istio-gce'))]
    counted = tally(results, grpc=False, from_cluster=True, from_vms=True)
    assert counted['missing'] == [{'check': 'pod to VM', 'target': 'istio-gce-2/shippingservice'},
                                  {'check': 'VM to cluster', 'target': 'istio-gce'}]
    assert counted['failed'] == 2 and counted['proven'] == 8 and counted['required'] == 10


def test_the_checks_from_inside_the_mesh_turned_off_on_purpose_are_unproven():
    skipped = [_result('pod to VM', target, 'skipped', 'not asked for') for target in TARGETS]
    skipped += [_result('VM to cluster', vm['name'], 'skipped', 'not asked for') for vm in VMS]
    counted = tally(_all_passed(grpc=False) + skipped, grpc=False)
    assert (counted['required'], counted['proven'], counted['failed'], counted['unproven'], counted['missing']) == (5, 5, 0, 5, [])
    # Asked for, the same skips did not run: failures.
    counted = tally(_all_passed(grpc=False) + skipped, grpc=False, from_cluster=True, from_vms=True)
    assert (counted['required'], counted['failed'], counted['unproven']) == (10, 5, 0)


def test_a_check_run_asks_for_no_pod_to_vm_but_still_for_vm_to_cluster():
    counted = tally(_all_passed(grpc=False) + _from_inside(check_mode=True), grpc=False, from_cluster=True,
                    from_vms=True, check_mode=True)
    assert (counted['required'], counted['proven'], counted['failed'], counted['missing']) == (7, 7, 0, [])
    counted = tally(_all_passed(grpc=False), grpc=False, from_cluster=True, from_vms=True, check_mode=True)
    assert [(missing['check'], missing['target']) for missing in counted['missing']] == [
        ('VM to cluster', 'istio-gce'), ('VM to cluster', 'istio-gce-2')]


def test_a_failed_pod_to_vm_call_stays_failed_with_its_detail():
    results = _all_passed(grpc=False) + _from_inside()
    results[-3] = _result('pod to VM', TARGETS[2], 'failed', 'exit code 78: Unavailable')
    counted = tally(results, grpc=False, from_cluster=True, from_vms=True)
    assert counted['missing'] == [{'check': 'pod to VM', 'target': TARGETS[2]}]
    assert [result['detail'] for result in counted['results'] if result['status'] == 'failed'] == ['exit code 78: Unavailable']
