# The test cluster's addresses: one isolated network, 10.66.0.0/24.
{
  name = "photon-test";
  leader = "node01";
  nodes = {
    node01 = { ip = "10.66.0.11"; mac = "52:54:00:66:00:0b"; roles = [ "chainfire" "flaredb" ]; };
    node02 = { ip = "10.66.0.12"; mac = "52:54:00:66:00:0c"; roles = [ "chainfire" "flaredb" ]; };
    node03 = { ip = "10.66.0.13"; mac = "52:54:00:66:00:0d"; roles = [ "chainfire" "flaredb" ]; };
    node04 = { ip = "10.66.0.14"; mac = "52:54:00:66:00:0e"; roles = [ "chainfire" "flaredb" ]; };
    node05 = { ip = "10.66.0.15"; mac = "52:54:00:66:00:0f"; roles = [ "chainfire" "flaredb" ]; };
    node06 = { ip = "10.66.0.16"; mac = "52:54:00:66:00:10"; roles = [ "client" ]; };
  };
}
