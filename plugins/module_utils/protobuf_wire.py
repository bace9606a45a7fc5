# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Protocol Buffers wire format, just enough to read a reply without its .proto or a protobuf library.

A message is a sequence of (field number, wire type, value) records; a repeated message field is one
length-delimited record per element, so counting the records of a field number counts the elements.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
# Wire types 3 and 4 (groups) are deprecated; proto3 never writes them.
_WIRE_TYPE_NAMES = {VARINT: 'varint', FIXED64: '64-bit', LENGTH_DELIMITED: 'length-delimited', FIXED32: '32-bit'}


class ProtobufWireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def encode_varint(value):
    """The base-128 varint encoding of a non-negative integer."""
    if value < 0:
        raise ValueError('a varint encodes a non-negative integer, got %d' % value)
    out = bytearray()
    while True:
        byte = value & 0x7f
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data, position):
    """Decode the varint at ``position``; returns (value, position after it)."""
    value, shift = 0, 0
    while True:
        if position >= len(data):
            raise ProtobufWireError('a varint runs past the end of the message')
        if shift > 63:
            raise ProtobufWireError('a varint is longer than 10 bytes')
        byte = data[position]
        position += 1
        value |= (byte & 0x7f) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def iter_fields(message):
    """Yield (field number, wire type, value) for each record: an int for varint and fixed-width types,
    bytes for length-delimited ones."""
    position = 0
    while position < len(message):
        key, position = read_varint(message, position)
        number, wire_type = key >> 3, key & 0x7
        if number == 0:
            raise ProtobufWireError('field number 0 is not valid')
        if wire_type == VARINT:
            value, position = read_varint(message, position)
        elif wire_type in (FIXED64, FIXED32):
            width = 8 if wire_type == FIXED64 else 4
            if position + width > len(message):
                raise ProtobufWireError('field %d (%s) runs past the end of the message'
                                        % (number, _WIRE_TYPE_NAMES[wire_type]))
            value = struct.unpack('<Q' if width == 8 else '<I', message[position:position + width])[0]
            position += width
        elif wire_type == LENGTH_DELIMITED:
            length, position = read_varint(message, position)
            if position + length > len(message):
                raise ProtobufWireError('field %d (length-delimited, %d bytes) runs past the end of the message'
                                        % (number, length))
            value = bytes(message[position:position + length])
            position += length
        else:
            raise ProtobufWireError('field %d has wire type %d, which proto3 does not use' % (number, wire_type))
        yield number, wire_type, value


def count_field(message, number):
    """How many records of field ``number`` the message holds: the element count of a repeated message or
    string field (packed repeated scalars are one record and are not counted by element)."""
    return sum(1 for field, _wire_type, _value in iter_fields(message) if field == number)
