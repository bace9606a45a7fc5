"""Istio settings the tests share."""

import textwrap

# The tutorial's control plane: one network, mesh ID and cluster name set, istiod reachable through the
# east-west gateway (samples/multicluster/gen-eastwest-gateway.sh).
TUTORIAL_ISTIO_OPERATOR = textwrap.dedent('''
    apiVersion: install.istio.io/v1alpha1
    kind: IstioOperator
    spec:
      values:
        global:
          meshID: mesh1
          multiCluster: {clusterName: west}
      components:
        ingressGateways:
          - name: istio-eastwestgateway
            enabled: true
            label: {istio: eastwestgateway, app: istio-eastwestgateway}
            k8s:
              service:
                ports:
                  - {name: status-port, port: 15021, targetPort: 15021}
                  - {name: tls, port: 15443, targetPort: 15443}
                  - {name: tls-istiod, port: 15012, targetPort: 15012}
                  - {name: tls-webhook, port: 15017, targetPort: 15017}
    ''')
