"""Online Boutique's productcatalogservice, rewritten small: the gRPC server, its catalog and the VM artifact builder."""
