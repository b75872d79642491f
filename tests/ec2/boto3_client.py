"""Drive nova-rs's EC2 API with the real, unmodified boto3 (from the project's
venv), as a user would: every response is parsed by botocore against its own
EC2 model, so a malformed body fails here.

Usage: boto3_client.py full|keystone-down
Environment: EC2_URL, EC2_ACCESS, EC2_SECRET (the demo user's Keystone EC2
credentials), ALT_ACCESS, ALT_SECRET (another project's), SSH_PUBLIC_KEY,
METADATA_URL (the metadata service, which trusts X-Forwarded-For),
FLOATING_PREFIX (the cloud's floating range; the demo project may hold 2).
Prints one JSON line of facts for the Rust test; exits non-zero on failure.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["EC2_URL"]
ACCESS = os.environ["EC2_ACCESS"]
SECRET = os.environ["EC2_SECRET"]
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(access=ACCESS, secret=SECRET, **cfg):
    return boto3.client(
        "ec2",
        endpoint_url=URL,
        region_name="nova",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=NO_RETRY.merge(Config(**cfg)) if cfg else NO_RETRY,
    )


def expect_error(code, fn, *args, status=None, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        st = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert got == code, f"{fn.__name__}: expected {code}, got {got} ({st}): {e}"
        if status is not None:
            assert st == status, f"{code}: HTTP {st}, expected {status}"
        elif code != "Unavailable":
            assert st < 500, f"{code} answered {st}"
        assert e.response["ResponseMetadata"]["RequestId"].startswith("req-"), e.response
        return e
    raise AssertionError(f"{fn.__name__} succeeded; expected {code}")


def sigv2_request(params, secret=SECRET, access=ACCESS, timestamp=None):
    """A request signed by hand with SignatureVersion 2 (boto2's scheme)."""
    host = urllib.parse.urlsplit(URL).netloc
    ts = timestamp or datetime.datetime.now(datetime.timezone.utc)
    p = dict(params)
    p.update(
        {
            "AWSAccessKeyId": access,
            "SignatureMethod": "HmacSHA256",
            "SignatureVersion": "2",
            "Timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2016-11-15",
        }
    )
    qs = "&".join(
        urllib.parse.quote(k, safe="") + "=" + urllib.parse.quote(str(p[k]), safe="-_~")
        for k in sorted(p)
    )
    to_sign = f"GET\n{host}\n/\n{qs}"
    sig = base64.b64encode(
        hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    return http_get(f"{URL}/?{qs}&Signature={urllib.parse.quote(sig, safe='')}")


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def error_code(body):
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return m.group(1) if m else None


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def metadata(path, address):
    req = urllib.request.Request(
        os.environ["METADATA_URL"] + path, headers={"X-Forwarded-For": address}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def security_groups(ec2, alt, ami, facts):
    """Groups and rules through EC2, an instance launched into one by id,
    and ClientToken idempotency."""
    sgs = ec2.describe_security_groups()["SecurityGroups"]
    default = [g for g in sgs if g["GroupName"] == "default"]
    assert len(default) == 1, sgs
    default_id = default[0]["GroupId"]
    assert re.fullmatch(r"sg-[0-9a-f]{8}", default_id), default
    made = ec2.create_security_group(GroupName="web", Description="web servers")
    web = made["GroupId"]
    assert re.fullmatch(r"sg-[0-9a-f]{8}", web) and web != default_id, made
    expect_error("InvalidGroup.Duplicate", ec2.create_security_group, GroupName="web", Description="again")
    expect_error("InvalidGroup.Duplicate", ec2.create_security_group, GroupName="default", Description="x")
    expect_error("InvalidParameterValue", ec2.create_security_group, GroupName="bad/name", Description="x")
    # The old flat form, from a network.
    ec2.authorize_security_group_ingress(
        GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="10.0.0.0/8"
    )
    # IpPermissions: from a group by name, and by id with a network too.
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupName": "default"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": default_id}],
                "IpRanges": [{"CidrIp": "192.168.0.0/16"}],
            },
        ],
    )
    expect_error(
        "InvalidPermission.Duplicate",
        ec2.authorize_security_group_ingress,
        GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="10.0.0.0/8",
    )
    expect_error(
        "InvalidParameterValue",
        ec2.authorize_security_group_ingress,
        GroupName="web", IpProtocol="tcp", FromPort=0, ToPort=22, CidrIp="10.0.0.0/8",
    )
    expect_error(
        "InvalidParameterValue",
        ec2.authorize_security_group_ingress,
        GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="10.0.0.0",
    )
    expect_error(
        "InvalidParameterValue",
        ec2.authorize_security_group_ingress,
        GroupName="web", IpProtocol="gre", FromPort=1, ToPort=2, CidrIp="10.0.0.0/8",
    )
    expect_error(
        "InvalidGroup.NotFound",
        ec2.authorize_security_group_ingress,
        GroupName="nope", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="10.0.0.0/8",
    )
    g = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"]
    assert len(g) == 1 and g[0]["GroupName"] == "web" and g[0]["Description"] == "web servers", g
    perms = {(p["IpProtocol"], p["FromPort"], p["ToPort"]): p for p in g[0]["IpPermissions"]}
    assert set(perms) == {("tcp", 22, 22), ("tcp", 80, 80)}, perms
    assert [r["CidrIp"] for r in perms[("tcp", 22, 22)]["IpRanges"]] == ["10.0.0.0/8"], perms
    pairs = [(u["GroupName"], u["GroupId"]) for u in perms[("tcp", 22, 22)]["UserIdGroupPairs"]]
    assert pairs == [("default", default_id)], perms
    assert [r["CidrIp"] for r in perms[("tcp", 80, 80)]["IpRanges"]] == ["192.168.0.0/16"], perms
    names = lambda flt: sorted(x["GroupName"] for x in ec2.describe_security_groups(Filters=flt)["SecurityGroups"])
    assert names([{"Name": "ip-permission.cidr", "Values": ["10.0.0.0/8"]}]) == ["web"]
    assert names([{"Name": "ip-permission.group-name", "Values": ["default"]}]) == ["web"]
    assert names([{"Name": "group-name", "Values": ["def*"]}]) == ["default"]
    assert names([{"Name": "group-id", "Values": [web]}]) == ["web"]
    assert names([{"Name": "description", "Values": ["web servers"]}]) == ["web"]
    assert names([{"Name": "ip-permission.from-port", "Values": ["80"]}]) == ["web"]
    assert ec2.describe_security_groups(GroupNames=["web", "default"])["SecurityGroups"][0]["GroupName"] == "default"
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupNames=["nope"])
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=["sg-7ffffff0"])
    expect_error("InvalidGroupId.Malformed", ec2.describe_security_groups, GroupIds=["bogus"])
    expect_error("InvalidParameterValue", ec2.describe_security_groups, Filters=[{"Name": "bogus", "Values": ["x"]}])
    # Another project sees neither the group nor its id.
    expect_error("InvalidGroup.NotFound", alt.describe_security_groups, GroupIds=[web])
    expect_error("InvalidGroup.NotFound", alt.delete_security_group, GroupId=web)
    assert [x["GroupName"] for x in alt.describe_security_groups()["SecurityGroups"]] == ["default"]
    # Revoke in both forms; a rule that is not there is InvalidPermission.NotFound.
    ec2.revoke_security_group_ingress(GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="10.0.0.0/8")
    ec2.revoke_security_group_ingress(
        GroupId=web,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": default_id}]}],
    )
    expect_error(
        "InvalidPermission.NotFound",
        ec2.revoke_security_group_ingress,
        GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="10.0.0.0/8",
    )
    left = ec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"][0]["IpPermissions"]
    assert [(p["FromPort"], len(p["IpRanges"]), len(p["UserIdGroupPairs"])) for p in left] == [(80, 1, 1)], left
    # A throwaway group is deleted by name.
    ec2.create_security_group(GroupName="tmp", Description="tmp")
    ec2.delete_security_group(GroupName="tmp")
    expect_error("InvalidGroup.NotFound", ec2.delete_security_group, GroupName="tmp")
    expect_error("CannotDelete", ec2.delete_security_group, GroupName="default")

    # An instance launched into the group by id, with a ClientToken twice: one instance.
    expect_error("InvalidGroup.NotFound", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, SecurityGroups=["nope"])
    expect_error("InvalidGroup.NotFound", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, SecurityGroupIds=["sg-7ffffff0"])
    token = "e2e-client-token-1"
    args = dict(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m1.tiny", SecurityGroupIds=[web], ClientToken=token)
    first = ec2.run_instances(**args)
    again = ec2.run_instances(**args)
    ids = [i["InstanceId"] for i in first["Instances"]]
    assert len(ids) == 1, first
    assert again["ReservationId"] == first["ReservationId"], (first, again)
    assert [i["InstanceId"] for i in again["Instances"]] == ids, (first, again)
    assert first["Instances"][0]["SecurityGroups"] == [{"GroupName": "web", "GroupId": web}], first
    assert first["Groups"] == [{"GroupName": "web", "GroupId": web}], first
    # The same token from another project is another request.
    alt_run = alt.run_instances(**{k: v for k, v in args.items() if k != "SecurityGroupIds"})
    assert alt_run["Instances"][0]["InstanceId"] not in ids, alt_run
    alt.terminate_instances(InstanceIds=[alt_run["Instances"][0]["InstanceId"]])
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    inst = ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"][0]
    assert inst["SecurityGroups"] == [{"GroupName": "web", "GroupId": web}], inst
    assert inst["ClientToken"] == token, inst
    by_group = ec2.describe_instances(Filters=[{"Name": "instance.group-id", "Values": [web]}])
    assert [i["InstanceId"] for r in by_group["Reservations"] for i in r["Instances"]] == ids, by_group
    attr = ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="groupSet")
    assert attr["Groups"] == [{"GroupName": "web", "GroupId": web}], attr
    servers = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert sum(len(r["Instances"]) for r in servers["Reservations"]) == 3, servers
    # AWS's other instance filters, matched against what DescribeInstances shows.
    def matching(name, *values):
        out = ec2.describe_instances(InstanceIds=ids, Filters=[{"Name": name, "Values": list(values)}])
        return [i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]]
    for name, value in [
        ("architecture", inst["Architecture"]),
        ("root-device-type", inst["RootDeviceType"]),
        ("root-device-name", inst["RootDeviceName"]),
        ("virtualization-type", inst["VirtualizationType"]),
        ("launch-time", inst["LaunchTime"].strftime("%Y-%m-%dT%H:%M:%S.*")),
        ("launch-index", str(inst["AmiLaunchIndex"])),
        ("client-token", token),
        ("owner-id", by_group["Reservations"][0]["OwnerId"]),
        ("tenancy", inst["Placement"]["Tenancy"]),
        ("monitoring-state", inst["Monitoring"]["State"]),
    ]:
        assert matching(name, value) == ids, (name, value)
    assert matching("architecture", "i386") == []
    assert matching("root-device-type", "ebs") == []
    # EC2-Classic: in no VPC.
    assert matching("vpc-id", "vpc-12345678") == []
    expect_error("InvalidGroup.InUse", ec2.delete_security_group, GroupId=web)
    facts["web_instance"] = ids[0]
    facts["web_group"] = web
    return ids[0], web


def addresses(ec2, alt, instance_id, private_ip):
    """Allocate, associate, describe, disassociate and release an address."""
    prefix = os.environ["FLOATING_PREFIX"]
    assert ec2.describe_addresses()["Addresses"] == []
    got = ec2.allocate_address(Domain="standard")
    pub = got["PublicIp"]
    assert pub.startswith(prefix) and got["Domain"] == "standard", got
    other = ec2.allocate_address()["PublicIp"]
    expect_error("AddressLimitExceeded", ec2.allocate_address)
    listed = sorted(a["PublicIp"] for a in ec2.describe_addresses()["Addresses"])
    assert listed == sorted([pub, other]), listed
    free = ec2.describe_addresses(PublicIps=[pub])["Addresses"]
    assert len(free) == 1 and "InstanceId" not in free[0] and free[0]["Domain"] == "standard", free
    expect_error("InvalidAddress.NotFound", alt.describe_addresses, PublicIps=[pub])
    expect_error("InvalidInstanceID.NotFound", alt.associate_address, InstanceId=instance_id, PublicIp=pub)
    expect_error("InvalidAddress.NotFound", alt.release_address, PublicIp=pub)
    expect_error("InvalidAddress.NotFound", ec2.describe_addresses, PublicIps=[prefix + "250"])
    expect_error("InvalidInstanceID.NotFound", ec2.associate_address, InstanceId="i-7ffffff0", PublicIp=pub)

    ec2.associate_address(InstanceId=instance_id, PublicIp=pub)
    a = ec2.describe_addresses(PublicIps=[pub])["Addresses"][0]
    assert a["InstanceId"] == instance_id and a["PrivateIpAddress"] == private_ip, a
    by_inst = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [instance_id]}])["Addresses"]
    assert [x["PublicIp"] for x in by_inst] == [pub], by_inst

    def shown():
        i = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return i if i.get("PublicIpAddress") == pub else None

    inst = wait_for("the address in DescribeInstances", shown)
    assert inst["PublicDnsName"] == pub and inst["PrivateIpAddress"] == private_ip, inst
    found = ec2.describe_instances(Filters=[{"Name": "ip-address", "Values": [pub]}])["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [instance_id], found

    ec2.disassociate_address(PublicIp=pub)
    a = ec2.describe_addresses(PublicIps=[pub])["Addresses"][0]
    assert "InstanceId" not in a, a
    expect_error("InvalidAssociationID.NotFound", ec2.disassociate_address, PublicIp=pub)
    wait_for(
        "the address gone from DescribeInstances",
        lambda: "PublicIpAddress" not in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0],
    )
    ec2.release_address(PublicIp=other)
    # Releasing an associated address disassociates it first (EC2-Classic).
    ec2.associate_address(InstanceId=instance_id, PublicIp=pub)
    ec2.release_address(PublicIp=pub)
    assert ec2.describe_addresses()["Addresses"] == []
    expect_error("InvalidAddress.NotFound", ec2.release_address, PublicIp=pub)
    wait_for(
        "the released address gone from DescribeInstances",
        lambda: "PublicIpAddress" not in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0],
    )
    return pub


def keystone_down():
    e = expect_error("Unavailable", client().describe_instances, status=503)
    print(json.dumps({"unavailable": e.response["Error"]["Message"]}))


def full():
    ec2 = client()
    facts = {}

    # --- regions, zones, account, instance types ---
    regions = ec2.describe_regions()["Regions"]
    assert regions[0]["RegionName"] == "nova", regions
    assert regions[0]["Endpoint"].startswith("http"), regions
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert any(z["ZoneName"] == "nova" and z["State"] == "available" for z in zones), zones
    # An admin's "verbose" zone listing (Nova's euca2ools listing): each zone,
    # its hosts, their enabled services and whether they are up.
    admin = client(os.environ["ADMIN_ACCESS"], os.environ["ADMIN_SECRET"])
    verbose = [(z["ZoneName"], z["State"]) for z in admin.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]]
    names = [n for n, _ in verbose]
    assert ("nova", "available") in verbose and ("internal", "available") in verbose, verbose
    compute = names.index("| |- nova-compute")
    assert verbose[compute - 1][0].startswith("|- ") and verbose[compute - 1][1] == "", verbose
    assert verbose[compute][1].startswith("enabled :-) 20"), verbose
    assert "| |- nova-conductor" in names[names.index("internal"):], verbose
    # Not for others: for them "verbose" is a zone name like any other.
    assert ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"] == []
    attrs = {
        a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
        for a in ec2.describe_account_attributes()["AccountAttributes"]
    }
    assert attrs["supported-platforms"] == ["EC2"], attrs
    assert int(attrs["max-instances"][0]) > 0, attrs
    tiny = ec2.describe_instance_types(InstanceTypes=["m1.tiny"])["InstanceTypes"]
    assert tiny[0]["VCpuInfo"]["DefaultVCpus"] == 1, tiny
    assert tiny[0]["MemoryInfo"]["SizeInMiB"] == 512, tiny
    expect_error("InvalidInstanceType", ec2.describe_instance_types, InstanceTypes=["m9.huge"])

    # --- key pairs ---
    pub = os.environ["SSH_PUBLIC_KEY"]
    imported = ec2.import_key_pair(KeyName="ec2key", PublicKeyMaterial=pub.encode())
    assert re.fullmatch(r"([0-9a-f]{2}:){15}[0-9a-f]{2}", imported["KeyFingerprint"]), imported
    made = ec2.create_key_pair(KeyName="generated")
    assert "PRIVATE KEY" in made["KeyMaterial"], made
    names = sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"])
    assert names == ["ec2key", "generated"], names
    expect_error("InvalidKeyPair.Duplicate", ec2.create_key_pair, KeyName="generated")
    expect_error("InvalidKeyPair.NotFound", ec2.describe_key_pairs, KeyNames=["nope"])
    ec2.delete_key_pair(KeyName="generated")
    ec2.delete_key_pair(KeyName="generated")  # absent: still true, as AWS
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["ec2key"]

    # --- images ---
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["e2e-image"]}])["Images"]
    assert len(images) == 1, images
    ami = images[0]["ImageId"]
    assert re.fullmatch(r"ami-[0-9a-f]{8}", ami), ami
    assert images[0]["State"] == "available" and images[0]["Public"] is True, images
    assert images[0]["ImageType"] == "machine", images
    facts["ami"] = ami
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["ImageId"] == ami

    # --- run two instances with user data ---
    user_data = "#!/bin/sh\necho hello from ec2\n"
    run = ec2.run_instances(
        ImageId=ami,
        MinCount=2,
        MaxCount=2,
        InstanceType="m1.tiny",
        KeyName="ec2key",
        UserData=user_data,
        Placement={"AvailabilityZone": "nova"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}],
    )
    ids = [i["InstanceId"] for i in run["Instances"]]
    assert len(ids) == 2 and all(re.fullmatch(r"i-[0-9a-f]{8}", i) for i in ids), run
    assert run["ReservationId"].startswith("r-"), run
    assert [i["AmiLaunchIndex"] for i in run["Instances"]] == [0, 1], run
    assert all(i["State"]["Name"] == "pending" and i["State"]["Code"] == 0 for i in run["Instances"]), run
    facts["ids"] = ids
    ec2.get_waiter("instance_running").wait(
        InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 90}
    )
    res = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    assert len(res) == 1 and res[0]["ReservationId"] == run["ReservationId"], res
    insts = {i["InstanceId"]: i for i in res[0]["Instances"]}
    assert sorted(insts) == sorted(ids), insts
    for i in insts.values():
        assert i["State"] == {"Code": 16, "Name": "running"}, i
        assert i["KeyName"] == "ec2key" and i["ImageId"] == ami, i
        assert i["InstanceType"] == "m1.tiny", i
        assert i["Placement"]["AvailabilityZone"] == "nova", i
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", i["PrivateIpAddress"]), i
        assert i["PrivateDnsName"], i
        assert isinstance(i["LaunchTime"], datetime.datetime), i
    ud = ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="userData")
    assert base64.b64decode(ud["UserData"]["Value"]).decode() == user_data, ud
    it = ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="instanceType")
    assert it["InstanceType"]["Value"] == "m1.tiny", it
    expect_error(
        "InvalidParameterValue", ec2.describe_instance_attribute, InstanceId=ids[0], Attribute="bogus"
    )
    # The ids are stable.
    again = ec2.describe_instances()["Reservations"]
    assert sorted(i["InstanceId"] for r in again for i in r["Instances"]) == sorted(ids), again

    # --- tags and filters ---
    ec2.create_tags(Resources=[ids[0]], Tags=[{"Key": "Name", "Value": "web1"}])
    ec2.create_tags(Resources=ids, Tags=[{"Key": "env", "Value": "test"}])
    by_name = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web1"]}])
    found = [i["InstanceId"] for r in by_name["Reservations"] for i in r["Instances"]]
    assert found == [ids[0]], by_name
    tags0 = {t["Key"]: t["Value"] for t in by_name["Reservations"][0]["Instances"][0]["Tags"]}
    assert tags0 == {"Name": "web1", "env": "test", "role": "web"}, tags0
    running = ec2.describe_instances(
        Filters=[
            {"Name": "instance-state-name", "Values": ["running"]},
            {"Name": "instance-id", "Values": ids},
        ]
    )
    assert sum(len(r["Instances"]) for r in running["Reservations"]) == 2, running
    stopped = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}])
    assert stopped["Reservations"] == [], stopped
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[0]]}])["Tags"]
    assert sorted((t["Key"], t["Value"], t["ResourceType"]) for t in tags) == [
        ("Name", "web1", "instance"),
        ("env", "test", "instance"),
        ("role", "web", "instance"),
    ], tags
    ec2.delete_tags(Resources=[ids[1]], Tags=[{"Key": "env"}])
    ec2.delete_tags(Resources=[ids[1]], Tags=[{"Key": "role", "Value": "not-web"}])  # value differs: kept
    left = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[1]]}])["Tags"]
    assert [(t["Key"], t["Value"]) for t in left] == [("role", "web")], left
    ec2.delete_tags(Resources=[ids[1]])  # no Tag: all of them
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[1]]}])["Tags"] == []
    # Pagination with NextToken, as boto3's paginator drives it.
    ec2.create_tags(Resources=[ids[1]], Tags=[{"Key": f"k{n}", "Value": str(n)} for n in range(6)])
    pages = list(
        ec2.get_paginator("describe_tags").paginate(
            Filters=[{"Name": "resource-id", "Values": [ids[1]]}], PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["Tags"]) for p in pages] == [5, 1], pages
    facts["tag_pages"] = len(pages)

    # --- console, status ---
    out = ec2.get_console_output(InstanceId=ids[0])
    assert "FAKE CONSOLE OUTPUT" in out["Output"], out
    st = ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]
    assert sorted(s["InstanceId"] for s in st) == sorted(ids), st
    assert all(s["InstanceState"]["Name"] == "running" and s["InstanceStatus"]["Status"] == "ok" for s in st), st

    # --- the metadata service shows the EC2 API's ids ---
    for i in insts.values():
        assert metadata("/latest/meta-data/instance-id", i["PrivateIpAddress"]) == i["InstanceId"], i
        assert metadata("/latest/meta-data/ami-id", i["PrivateIpAddress"]) == ami, i

    # --- security groups, ClientToken, addresses ---
    alt = client(os.environ["ALT_ACCESS"], os.environ["ALT_SECRET"])
    web_instance, web = security_groups(ec2, alt, ami, facts)
    facts["address"] = addresses(ec2, alt, ids[0], insts[ids[0]]["PrivateIpAddress"])

    # --- stop, start, reboot ---
    stop = ec2.stop_instances(InstanceIds=[ids[0]])["StoppingInstances"][0]
    assert stop["PreviousState"]["Name"] == "running", stop
    assert stop["CurrentState"]["Name"] in ("stopping", "stopped"), stop
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[ids[0]], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    expect_error("IncorrectState", ec2.reboot_instances, InstanceIds=[ids[0]])
    start = ec2.start_instances(InstanceIds=[ids[0]])["StartingInstances"][0]
    assert start["PreviousState"]["Name"] == "stopped", start
    ec2.get_waiter("instance_running").wait(InstanceIds=[ids[0]], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.reboot_instances(InstanceIds=[ids[0]])
    ec2.get_waiter("instance_running").wait(InstanceIds=[ids[0]], WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    # --- an image of an instance ---
    snap = ec2.create_image(InstanceId=ids[0], Name="snap1", Description="made through EC2")["ImageId"]
    assert re.fullmatch(r"ami-[0-9a-f]{8}", snap) and snap != ami, snap
    ec2.get_waiter("image_available").wait(ImageIds=[snap], WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    img = ec2.describe_images(ImageIds=[snap])["Images"][0]
    assert img["Name"] == "snap1" and img["State"] == "available", img
    assert img["Description"] == "made through EC2", img
    assert img["Public"] is False, img
    mine = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    assert snap in mine and ami not in mine, mine
    desc = ec2.describe_image_attribute(ImageId=snap, Attribute="description")
    assert desc["Description"]["Value"] == "made through EC2", desc
    perm = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert perm["LaunchPermissions"] == [{"Group": "all"}], perm
    ec2.deregister_image(ImageId=snap)
    expect_error("InvalidAMIID.NotFound", ec2.describe_images, ImageIds=[snap])
    facts["snapshot"] = snap

    # --- signatures: SigV2 by hand, SigV4 presigned; wrong, tampered, expired ---
    status, body = sigv2_request({"Action": "DescribeRegions"})
    assert status == 200 and "<regionName>nova</regionName>" in body, body
    assert 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"' in body, body
    presigned = ec2.generate_presigned_url("describe_regions", ExpiresIn=60, HttpMethod="GET")
    status, body = http_get(presigned)
    assert status == 200 and "DescribeRegionsResponse" in body, (status, body)
    short = ec2.generate_presigned_url("describe_regions", ExpiresIn=1, HttpMethod="GET")
    time.sleep(2)
    status, body = http_get(short)
    assert (status, error_code(body)) == (400, "RequestExpired"), (status, body)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    status, body = sigv2_request({"Action": "DescribeRegions"}, timestamp=old)
    assert (status, error_code(body)) == (400, "RequestExpired"), (status, body)
    assert "<RequestID>req-" in body, body
    status, body = sigv2_request({"Action": "DescribeRegions"}, secret="not-the-secret")
    assert (status, error_code(body)) == (401, "AuthFailure"), (status, body)
    expect_error("AuthFailure", client(secret=SECRET + "x").describe_instances, status=401)
    expect_error("AuthFailure", client(access="no-such-key").describe_instances, status=401)
    tampered = client()

    def tamper(request, **_):
        auth = request.headers["Authorization"]
        if isinstance(auth, bytes):
            auth = auth.decode()
        flipped = "0" if auth[-1] != "0" else "1"
        request.headers["Authorization"] = auth[:-1] + flipped

    tampered.meta.events.register("before-send.ec2.DescribeInstances", tamper)
    expect_error("AuthFailure", tampered.describe_instances, status=401)
    status, body = http_get(f"{URL}/?Action=DescribeRegions&Version=2016-11-15")
    assert (status, error_code(body)) == (401, "MissingAuthenticationToken"), (status, body)

    # --- another project's instance is as unknown as a random id ---
    expect_error("InvalidInstanceID.NotFound", alt.describe_instances, InstanceIds=[ids[0]])
    expect_error("InvalidInstanceID.NotFound", alt.terminate_instances, InstanceIds=[ids[0]])
    expect_error("InvalidInstanceID.NotFound", alt.create_tags, Resources=[ids[0]], Tags=[{"Key": "a", "Value": "b"}])
    seen = [i["InstanceId"] for r in alt.describe_instances()["Reservations"] for i in r["Instances"]]
    assert not set(seen) & set(ids), seen

    # --- malformed requests: 4xx, never 5xx ---
    expect_error("InvalidInstanceID.Malformed", ec2.describe_instances, InstanceIds=["i-xyz"])
    expect_error("InvalidInstanceID.NotFound", ec2.describe_instances, InstanceIds=["i-7ffffff0"])
    expect_error("InvalidAMIID.Malformed", ec2.run_instances, ImageId="bogus", MinCount=1, MaxCount=1)
    expect_error("InvalidAMIID.NotFound", ec2.run_instances, ImageId="ami-7ffffff0", MinCount=1, MaxCount=1)
    expect_error("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=2, MaxCount=1)
    expect_error("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m9.huge")
    expect_error("InvalidKeyPair.NotFound", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, KeyName="nope")
    expect_error("InvalidParameterValue", ec2.describe_instances, Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    expect_error("InvalidParameterValue", ec2.describe_instances, MaxResults=3)
    unchecked = client(parameter_validation=False)
    expect_error("InvalidParameterValue", unchecked.run_instances, ImageId=ami, MinCount="many", MaxCount=1)
    expect_error("MissingParameter", unchecked.run_instances, MinCount=1, MaxCount=1)
    expect_error("UnsupportedOperation", ec2.describe_volumes)
    # Block device mappings: no snapshot or volume to find or make (no
    # Cinder); m1.tiny has no ephemeral disk to map.
    for code, mapping, says in [
        ("InvalidSnapshot.NotFound", {"DeviceName": "/dev/vdb", "Ebs": {"SnapshotId": "snap-0000abcd"}},
         "The snapshot 'snap-0000abcd' does not exist."),
        ("InvalidVolume.NotFound", {"DeviceName": "/dev/vdb", "Ebs": {"SnapshotId": "vol-0000abcd"}},
         "The volume 'vol-0000abcd' does not exist."),
        ("InvalidSnapshotID.Malformed", {"DeviceName": "/dev/vdb", "Ebs": {"SnapshotId": "bogus"}}, "bogus"),
        ("InvalidBlockDeviceMapping", {"DeviceName": "/dev/vdb", "Ebs": {"VolumeSize": 1}},
         "no Block Storage service (Cinder)"),
        ("InvalidBlockDeviceMapping", {"DeviceName": "/dev/vdb", "VirtualName": "ephemeral0"},
         "an ephemeral disk of 0 GiB was requested"),
        ("InvalidBlockDeviceMapping", {"DeviceName": "/dev/vdb", "VirtualName": "scratch"},
         "Unrecognized legacy format."),
    ]:
        err = expect_error(
            code, ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m1.tiny",
            BlockDeviceMappings=[mapping],
        )
        assert says in err.response["Error"]["Message"], (mapping, err.response["Error"])
    expect_error(
        "InvalidParameterValue",
        ec2.run_instances,
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "b"}]}],
    )
    status, body = sigv2_request({"Action": "NoSuchAction"})
    assert (status, error_code(body)) == (400, "InvalidAction"), (status, body)

    # --- terminate ---
    ec2.terminate_instances(InstanceIds=[web_instance])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[web_instance], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.delete_security_group(GroupId=web)
    term = ec2.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert sorted(t["InstanceId"] for t in term) == sorted(ids), term
    assert all(t["CurrentState"]["Name"] in ("shutting-down", "terminated") for t in term), term
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    gone = ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"]
    assert all(i["State"] == {"Code": 48, "Name": "terminated"} for i in gone), gone

    # --- a kernel and ramdisk other than the image's (KernelId, RamdiskId) ---
    def image_id(name):
        found = ec2.describe_images(Filters=[{"Name": "name", "Values": [name]}])["Images"]
        assert len(found) == 1, found
        return found[0]["ImageId"], found[0]["ImageType"]

    (aki, aki_type), (ari, ari_type) = image_id("e2e-kernel"), image_id("e2e-ramdisk")
    assert (aki[:4], aki_type, ari[:4], ari_type) == ("aki-", "kernel", "ari-", "ramdisk"), (aki, ari)
    expect_error(
        "InvalidAMIID.NotFound", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, KernelId="aki-7ffffff0"
    )
    expect_error("InvalidAMIID.Malformed", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, RamdiskId="bogus")
    booted = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, KernelId=aki, RamdiskId=ari)["Instances"][0]
    kid = booted["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[kid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    shown = ec2.describe_instances(InstanceIds=[kid])["Reservations"][0]["Instances"][0]
    assert (shown.get("KernelId"), shown.get("RamdiskId")) == (aki, ari), shown
    kernel = ec2.describe_instance_attribute(InstanceId=kid, Attribute="kernel")["KernelId"]["Value"]
    ramdisk = ec2.describe_instance_attribute(InstanceId=kid, Attribute="ramdisk")["RamdiskId"]["Value"]
    assert (kernel, ramdisk) == (aki, ari), (kernel, ramdisk)
    by_kernel = ec2.describe_instances(Filters=[{"Name": "kernel-id", "Values": [aki]}])["Reservations"]
    assert [i["InstanceId"] for r in by_kernel for i in r["Instances"]] == [kid], by_kernel
    facts["kernel_instance"] = kid
    ec2.terminate_instances(InstanceIds=[kid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[kid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    print(json.dumps(facts))


if __name__ == "__main__":
    {"full": full, "keystone-down": keystone_down}[sys.argv[1]]()
