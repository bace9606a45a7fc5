"""The playbook runner fixture reports what ansible-playbook did, so other tests can trust it."""


def test_runner_reports_changes_and_task_results(run_playbook):
    result = run_playbook("""
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Say something
              ansible.builtin.debug:
                msg: hello
            - name: Change something
              ansible.builtin.command: /bin/true
              changed_when: true
    """)
    assert result.changed() == 1
    assert result.task('Say something')['msg'] == 'hello'


def test_runner_sees_failures(run_playbook):
    result = run_playbook("""
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Fail on purpose
              ansible.builtin.fail:
                msg: boom
    """, expect_failure=True)
    assert result.returncode != 0
    assert result.failed() == 1
