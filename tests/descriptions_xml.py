"""An operator's market descriptions file, for the tests that load one."""

# Sportradar's markets.xml as their descriptions endpoint serves it (trimmed), with a namespace
# and a mapping block, which are read past.
MARKETS_XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<market_descriptions xmlns="http://schemas.sportradar.com/sportsapi/v1/unified"
                     response_code="OK">
  <market id="1" name="1x2" groups="all|score|regular_play">
    <outcomes>
      <outcome id="1" name="{$competitor1}"/>
      <outcome id="2" name="draw"/>
      <outcome id="3" name="{$competitor2}"/>
    </outcomes>
  </market>
  <market id="62" name="1st half - {!goalnr} goal" groups="all|score|1st_half">
    <outcomes>
      <outcome id="6" name="{$competitor1}"/>
      <outcome id="7" name="none"/>
      <outcome id="8" name="{$competitor2}"/>
    </outcomes>
    <specifiers><specifier name="goalnr" type="integer"/></specifiers>
    <mappings>
      <mapping market_id="6:107" sport_id="sr:sport:1" product_id="1">
        <mapping_outcome product_outcome_name="1" product_outcome_id="14" outcome_id="6"/>
      </mapping>
    </mappings>
  </market>
  <market id="900" name="Exotic {!xth} thing" groups="all|exotic">
    <outcomes>
      <outcome id="1" name="first way"/>
      <outcome id="2" name="other way"/>
    </outcomes>
  </market>
  <market id="901" name="No groups here">
    <outcomes><outcome id="74" name="yes"/></outcomes>
  </market>
  <market id="900" name="A second description of 900 is ignored" groups="all"/>
</market_descriptions>
"""
