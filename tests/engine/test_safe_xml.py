"""Product metadata XML is parsed by defusedxml's rule (no DTD, so no entity expansion and no
external entities) with the standard library a stock QGIS has."""
import xml.etree.ElementTree as ET

import pytest

from rs_embed_qgis.engine.errors import ProviderError
from rs_embed_qgis.engine.providers.sentinel2.safe import parse_xml, read_product_xml

ESA = (b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
       b'<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">'
       b'<n1:General_Info><Product_Info><PRODUCT_START_TIME>2022-07-15T10:25:59.024Z</PRODUCT_START_TIME>'
       b'<PROCESSING_BASELINE>04.00</PROCESSING_BASELINE></Product_Info></n1:General_Info>'
       b'</n1:Level-2A_User_Product>')


def test_metadata_parses_to_the_tree_elementtree_gives():
    root = parse_xml(ESA)
    assert ET.tostring(root) == ET.tostring(ET.fromstring(ESA))
    assert root.find(".//PRODUCT_START_TIME").text == "2022-07-15T10:25:59.024Z"


@pytest.mark.parametrize("doc", [
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx"><!ENTITY y "&x;&x;&x;&x;">]><a>&y;</a>',  # expansion
    b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://example.org/a.dtd"><a/>',                   # external DTD
    b'<?xml version="1.0"?><!doctype a [<!entity e SYSTEM "file:///etc/passwd">]><a>&e;</a>',     # external entity
])
def test_a_document_declaring_a_dtd_is_refused(doc, tmp_path):
    with pytest.raises(ET.ParseError, match="DTD"):
        parse_xml(doc)
    path = tmp_path / "MTD_MSIL2A.xml"
    path.write_bytes(doc)
    with pytest.raises(ProviderError, match="declares a DTD"):
        read_product_xml(path)


def test_a_truncated_document_is_a_parse_error():
    with pytest.raises(ET.ParseError):
        parse_xml(ESA[:-40])
