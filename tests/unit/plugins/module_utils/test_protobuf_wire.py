"""Reading protobuf messages by their wire format, checked against messages the protobuf library serializes."""

import pytest

from ansible_collections.meshbridge.istio_vm.plugins.module_utils import protobuf_wire
from lab.workloads.productcatalog import stubs


@pytest.fixture(scope='module')
def proto(tmp_path_factory):
    return stubs.load(str(tmp_path_factory.mktemp('stubs')))['productcatalog_pb2']


@pytest.mark.parametrize('value', [0, 1, 127, 128, 300, 2 ** 32, 2 ** 63])
def test_varint_round_trip(value):
    encoded = protobuf_wire.encode_varint(value)
    assert protobuf_wire.read_varint(encoded + b'\x00', 0) == (value, len(encoded))


def test_varint_refuses_negative_and_overlong():
    with pytest.raises(ValueError):
        protobuf_wire.encode_varint(-1)
    with pytest.raises(protobuf_wire.ProtobufWireError, match='longer than 10 bytes'):
        protobuf_wire.read_varint(b'\xff' * 11, 0)


def test_counts_the_elements_of_a_repeated_message_field(proto):
    products = [proto.Product(id=str(i), name='p%d' % i, categories=['a', 'b'],
                              price_usd=proto.Money(currency_code='USD', units=i, nanos=-5)) for i in range(9)]
    message = proto.ListProductsResponse(products=products).SerializeToString()
    assert protobuf_wire.count_field(message, 1) == 9
    assert protobuf_wire.count_field(message, 2) == 0
    assert protobuf_wire.count_field(b'', 1) == 0


def test_reads_every_wire_type_a_proto3_message_uses(proto):
    product = proto.Product(id='OLJCESPC7Z', price_usd=proto.Money(units=19, nanos=990000000)).SerializeToString()
    fields = list(protobuf_wire.iter_fields(product))
    assert fields[0] == (1, protobuf_wire.LENGTH_DELIMITED, b'OLJCESPC7Z')
    money = list(protobuf_wire.iter_fields(fields[1][2]))
    assert money == [(2, protobuf_wire.VARINT, 19), (3, protobuf_wire.VARINT, 990000000)]
    fixed = b'\x09' + b'\x01' * 8 + b'\x15' + b'\x02' * 4  # field 1 fixed64, field 2 fixed32
    assert [(n, t) for n, t, _v in protobuf_wire.iter_fields(fixed)] == [(1, protobuf_wire.FIXED64),
                                                                         (2, protobuf_wire.FIXED32)]


@pytest.mark.parametrize('data, message', [
    (b'\x0a\x05abc', 'runs past the end'),
    (b'\x09\x01\x02', 'runs past the end'),
    (b'\x0b', 'wire type 3'),
    (b'\x00\x01', 'field number 0'),
    (b'\x08', 'past the end'),
])
def test_refuses_what_is_not_a_message(data, message):
    with pytest.raises(protobuf_wire.ProtobufWireError, match=message):
        protobuf_wire.count_field(data, 1)
