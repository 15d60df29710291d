"""Filter policies: every operator (unit level, on compiled matchers), validation errors and limits,
property tests against a straightforward reference interpreter, and end to end through the client
on message attributes and on message bodies."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ClientError
from engine.sns import filter as F


def attrs(**kw):
    """name=value (str -> String, int/float -> Number, list -> String.Array, bytes -> Binary)."""
    out = {}
    for k, v in kw.items():
        if isinstance(v, bytes):
            out[k] = ("Binary", v)
        elif isinstance(v, list):
            out[k] = ("String.Array", json.dumps(v))
        elif isinstance(v, (int, float)):
            out[k] = ("Number", str(v))
        else:
            out[k] = ("String", v)
    return F.attribute_values(out)


def matcher(policy, scope=F.MESSAGE_ATTRIBUTES):
    parsed = F.parse_policy(json.dumps(policy), scope, subscribe=False)
    return F.compile_policy(parsed)


def on_attrs(policy, **kw):
    return matcher(policy)(attrs(**kw))


def on_body(policy, body):
    values = F.body_values(json.dumps(body) if not isinstance(body, str) else body)
    return values is not None and matcher(policy, F.MESSAGE_BODY)(values)


# --- operators ---------------------------------------------------------------------------------------
def test_exact_strings_and_or_within_a_key():
    p = {"sport": ["rugby", "tennis"]}
    assert on_attrs(p, sport="rugby") and on_attrs(p, sport="tennis")
    assert not on_attrs(p, sport="baseball") and not on_attrs(p, other="rugby") and not on_attrs(p)
    assert not on_attrs(p, sport="Rugby")  # case sensitive


def test_and_across_keys():
    p = {"a": ["1"], "b": ["2"]}
    assert on_attrs(p, a="1", b="2", c="x")
    assert not on_attrs(p, a="1") and not on_attrs(p, a="1", b="3")


def test_numbers_exact_and_typed():
    p = {"price": [100, 3.5e2]}
    assert on_attrs(p, price=100) and on_attrs(p, price=350) and on_attrs(p, price=100.0)
    assert not on_attrs(p, price=101)
    assert not on_attrs(p, price="100")  # a String attribute is not a number
    assert on_attrs({"price": ["100"]}, price="100") and not on_attrs({"price": ["100"]}, price=100)


def test_numeric_comparisons_and_ranges():
    assert on_attrs({"p": [{"numeric": [">", 0]}]}, p=1) and not on_attrs({"p": [{"numeric": [">", 0]}]}, p=0)
    assert on_attrs({"p": [{"numeric": [">=", 0]}]}, p=0)
    assert on_attrs({"p": [{"numeric": ["<", 0]}]}, p=-0.5) and not on_attrs({"p": [{"numeric": ["<", 0]}]}, p=0)
    assert on_attrs({"p": [{"numeric": ["<=", 0]}]}, p=0)
    assert on_attrs({"p": [{"numeric": ["=", 301.5]}]}, p=3.015e2)
    rng = {"p": [{"numeric": [">", 0, "<=", 150]}]}
    assert on_attrs(rng, p=150) and on_attrs(rng, p=0.001)
    assert not on_attrs(rng, p=0) and not on_attrs(rng, p=150.5) and not on_attrs(rng, p="10")
    assert on_body(rng, {"p": 10}) and not on_body(rng, {"p": "10"})


def test_prefix_suffix_equals_ignore_case():
    assert on_attrs({"k": [{"prefix": "bas"}]}, k="baseball") and not on_attrs({"k": [{"prefix": "bas"}]}, k="rugby")
    assert on_attrs({"k": [{"suffix": "ball"}]}, k="baseball") and not on_attrs({"k": [{"suffix": "ball"}]}, k="ballet")
    p = {"k": [{"equals-ignore-case": "RuGbY"}]}
    assert on_attrs(p, k="rugby") and on_attrs(p, k="RUGBY") and not on_attrs(p, k="rugby league")


def test_anything_but():
    p = {"k": [{"anything-but": ["rugby", "tennis"]}]}
    assert on_attrs(p, k="baseball") and not on_attrs(p, k="rugby")
    assert not on_attrs(p)  # anything-but needs the key
    assert on_attrs({"k": [{"anything-but": "rugby"}]}, k="tennis")
    assert not on_attrs({"k": [{"anything-but": "rugby"}]}, k="rugby")
    assert on_attrs({"n": [{"anything-but": [100, 200]}]}, n=150)
    assert not on_attrs({"n": [{"anything-but": 100}]}, n=100)
    assert on_attrs({"k": [{"anything-but": {"prefix": "ru"}}]}, k="tennis")
    assert not on_attrs({"k": [{"anything-but": {"prefix": "ru"}}]}, k="rugby")
    # String.Array: matches only if none of the elements is excluded (current AWS wording)
    assert not on_attrs(p, k=["rugby", "baseball"]) and on_attrs(p, k=["golf", "baseball"])
    # combined with exists: false, an absent key matches too
    q = {"k": [{"anything-but": ["rugby"]}, {"exists": False}]}
    assert on_attrs(q) and on_attrs(q, k="golf") and not on_attrs(q, k="rugby")


def test_exists():
    assert on_attrs({"k": [{"exists": True}]}, k="anything")
    assert on_attrs({"k": [{"exists": True}]}, k=b"binary counts as present")
    assert not on_attrs({"k": [{"exists": True}]}, other="x")
    assert on_attrs({"k": [{"exists": False}]}, other="x") and not on_attrs({"k": [{"exists": False}]}, k="x")
    assert on_body({"a": {"b": [{"exists": False}]}}, {"a": {"c": 1}})
    assert not on_body({"a": {"b": [{"exists": False}]}}, {"a": {"b": None}})  # null is present
    assert on_body({"a": {"b": [{"exists": True}]}}, {"a": {"b": None}})


def test_cidr():
    p = {"ip": [{"cidr": "10.0.0.0/24"}]}
    assert on_attrs(p, ip="10.0.0.255") and not on_attrs(p, ip="10.0.1.0") and not on_attrs(p, ip="nonsense")
    assert on_attrs({"ip": [{"cidr": "2001:db8::/32"}]}, ip="2001:db8::1")
    assert not on_attrs({"ip": [{"cidr": "2001:db8::/32"}]}, ip="10.0.0.1")


def test_string_array_attributes():
    p = {"interests": ["rugby", "tennis"]}
    assert on_attrs(p, interests=["baseball", "rugby"]) and not on_attrs(p, interests=["baseball"])
    assert on_attrs({"n": [{"numeric": [">", 5]}]}, n=[1, 10])
    assert on_attrs({"b": [True]}, b=[True]) and not on_attrs({"b": [1]}, b=[True])  # true is not 1


def test_binary_attributes_do_not_match_values():
    assert not on_attrs({"k": ["x"]}, k=b"x")


def test_or_operator():
    p = {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                               {"namespace": [{"prefix": "AWS/"}]}]}
    assert on_attrs(p, source="aws.cloudwatch", metricName="CPUUtilization")
    assert on_attrs(p, source="aws.cloudwatch", namespace="AWS/EC2")
    assert not on_attrs(p, source="aws.cloudwatch", namespace="Custom")
    assert not on_attrs(p, source="other", metricName="CPUUtilization")


def test_body_scope_nested_keys_arrays_and_types():
    p = {"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
         "customer_interests": ["basketball", "baseball"], "price_usd": [{"numeric": [">=", 100]}]}
    body = {"store": "example_corp", "event": "order_placed", "customer_interests": ["soccer", "baseball"],
            "price_usd": 510.36}
    assert on_body(p, body)
    assert not on_body(p, {**body, "event": "order_cancelled"})
    nested = {"order": {"items": {"sku": [{"prefix": "A-"}]}, "paid": [True]}}
    assert on_body(nested, {"order": {"items": [{"sku": "B-1"}, {"sku": "A-2"}], "paid": True}})
    assert not on_body(nested, {"order": {"items": [{"sku": "B-1"}], "paid": True}})
    assert not on_body(nested, {"order": {"items": [{"sku": "A-1"}], "paid": "true"}})
    assert on_body({"a": [None]}, {"a": None}) and not on_body({"a": [None]}, {"a": "null"})
    assert on_body({"a.b": ["x"]}, {"a": {"b": "x"}})  # a dotted key is a path, as AWS evaluates it
    assert not on_body({"a": ["x"]}, "not json") and not on_body({"a": ["x"]}, "[1, 2]")
    assert not on_body({"a": ["x"]}, {"a": []})


def test_policy_is_compiled_once_into_a_closure():
    m = matcher({"k": ["v"]})
    assert callable(m) and m.__closure__  # a closure over the compiled tables, no policy document in sight
    assert F.compile_policy(None) is None


# --- validation ----------------------------------------------------------------------------------------
# Recorded from AWS (Subscribe with the policy as json.dumps gives it): AWS re-serializes the policy
# compactly and its rule compiler quotes that text and the parser's column when it refuses.
RECORDED_RULE_ERRORS = [
    ({"key": [["value"]]}, "Match value must be String, number, true, false, or null", 10),
    ({"key": [{"wrong-operator": True}]}, "Unrecognized match type wrong-operator", 31),
    ({"key": [{"suffix": "value", "prefix": "value2"}]}, "Only one key allowed in match expression", 37),
    ({"key": [{"suffix": 100}]}, "suffix match pattern must be a string", 22),
    ({"key": [{"suffix": None}]}, "suffix match pattern must be a string", 23),
    ({"key": {"suffix": "value"}}, '"suffix" must be an object or an array', 19),
    ({"key": [{"suffix": []}]}, "suffix match pattern must be a string", 20),
    ({"key": [{"suffix": ["test", "test2"]}]}, "suffix match pattern must be a string", 20),
    ({"key": {"not-an-operator": "value"}}, '"not-an-operator" must be an object or an array', 28),
    ({"key": [{"numeric": []}]}, "Invalid member in numeric match: ]", 22),
    ({"key": [{"numeric": ["operator"]}]}, "Unrecognized numeric range operator: operator", 32),
    ({"key": [{"numeric": [1, "<="]}]}, "Invalid member in numeric match: 1", 22),
    ({"key": [{"numeric": ["=", "000"]}]}, "Value of equals must be numeric", 26),
    ({"key": [{"numeric": [">="]}]}, "Value of >= must be numeric", 26),
    ({"key": [{"numeric": ["<", 100, ">", 10]}]}, "Too many elements in numeric expression", 30),
    ({"key": [{"numeric": [">=", 1, ">", 2]}]}, "Bad numeric range operator: >", 31),
    ({"key": [{"numeric": [">", 3, "<", 1]}]}, "Bottom must be less than top", 33),
    ({"key": [{"numeric": [">", 20, "<="]}]}, "Value of <= must be numeric", 33),
    ({"key": [{"numeric": [">", 20, 30]}]}, "Bad value in numeric range: 30", 30),
    ({"key": [{"numeric": [">", 20, "test"]}]}, "Bad numeric range operator: test", 34),
    ({"key": [{"numeric": [">", "20", "<", "30"]}]}, "Value of > must be numeric", 26),
    ({"key": [{"numeric": [">", 20, "<", "30"]}]}, "Value of < must be numeric", 33),
    ({"key": [{"numeric": [">", 20, "<", 30, "<", 50]}]}, "Too many terms in numeric range expression", 36),
    ({"key": [{"exists": None}]}, "exists match pattern must be either true or false.", 23),
    ({"key": [{"exists": "no"}]}, "exists match pattern must be either true or false.", 20),
    ({"key": [{"anything-but": {"wrong-operator": None}}]}, "Unsupported anything-but pattern: wrong-operator", 47),
    ({"key": [{"anything-but": {"suffix": "test"}}]}, "Unsupported anything-but pattern: suffix", 36),
    ({"key": [{"anything-but": {"exists": False}}]}, "Unsupported anything-but pattern: exists", 40),
    ({"key": [{"anything-but": {"prefix": False}}]}, "prefix match pattern must be a string", 40),
    ({"key_a": "value_one"}, '"key_a" must be an object or an array', 11),
]


@pytest.mark.parametrize("policy,text,column", RECORDED_RULE_ERRORS)
def test_rule_errors_quote_the_compact_policy_and_column_as_aws(policy, text, column):
    compact = json.dumps(policy, separators=(",", ":"))
    tail = f'\n at [Source: (String)"{compact}"; line: 1, column: {column}]'
    with pytest.raises(ClientError) as e:
        F.parse_policy(json.dumps(policy, indent=2), F.MESSAGE_ATTRIBUTES, subscribe=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    assert e.value.response["Error"]["Message"] == f"Invalid parameter: Attributes Reason: FilterPolicy: {text}{tail}"
    with pytest.raises(ClientError) as e:
        F.parse_policy(json.dumps(policy), F.MESSAGE_ATTRIBUTES, subscribe=False)
    assert e.value.response["Error"]["Message"] == f"Invalid parameter: FilterPolicy: {text}{tail}"


@pytest.mark.parametrize("policy,text", [
    ({"a": []}, "Empty arrays are not allowed"),
    ({"a": [{"prefix": 1}]}, "prefix match pattern must be a string"),
    ({"a": [{"equals-ignore-case": 5}]}, "equals-ignore-case match pattern must be a string"),
    ({"a": [{"wildcard": "*"}]}, "Unrecognized match type wildcard"),
    ({"a": [{"anything-but": {"equals-ignore-case": "x"}}]}, "Unsupported anything-but pattern: equals-ignore-case"),
    ({"a": [{"anything-but": {"prefix": ""}}]}, "Null prefix not allowed"),
    ({"a": [{"anything-but": [1, "x"]}]}, "Inside anything but list, either all values are number or string, "
                                          "mixed type is not supported"),
    ({"a": [{"anything-but": [None]}]}, "Inside anything but list, start|null|boolean is not supported."),
    ({"a": [{"numeric": "x"}]}, "Value of numeric must be an array."),
    ({"$or": [{"a": ["x"]}]}, "There must have at least 2 Objects in $or relationship."),
    ({"$or": {"a": ["x"]}}, "It must be an Array followed with $or."),
    ({"$or": [{"a": ["x"]}, ["b"]]}, "Only JSON object is allowed in array of $or relationship."),
    ({"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}, "prefix is Ruler reserved fieldName which cannot be used inside $or."),
    ({"a": {}}, "Empty objects are not allowed"),
])
def test_other_rule_errors(policy, text):
    with pytest.raises(ClientError) as e:
        F.parse_policy(json.dumps(policy), F.MESSAGE_BODY, subscribe=False)
    assert e.value.response["Error"]["Message"].startswith(f"Invalid parameter: FilterPolicy: {text}\n at [Source: ")


@pytest.mark.parametrize("policy,text", [
    ({f"k{i}": ["v"] for i in range(6)}, "FilterPolicy: Filter policy can not have more than 5 keys"),
    ({"a": ["v"] * 151}, "FilterPolicy: Filter policy is too complex"),
    ({"a": ["1"] * 10, "b": ["2"] * 10, "c": ["3"] * 2}, "FilterPolicy: Filter policy is too complex"),
    ({"a": {"b": ["v"]}}, "Filter policy scope MessageAttributes does not support nested filter policy"),
    ({"a": [{"numeric": [">", 1e10]}]}, "FilterPolicy: Numeric value must be between -1.0E9 and 1.0E9"),
    ({"a": [{"cidr": "10.0.0.0"}]}, "FilterPolicy: Malformed CIDR, one '/' required"),
    ({"a": [{"cidr": "10.0.0.0/x"}]}, "FilterPolicy: Malformed CIDR, mask bits must be an integer"),
    ({"a": [{"cidr": "10.0.0.0/\u0663"}]}, "FilterPolicy: Malformed CIDR, mask bits must be an integer"),
    ({"a": [{"cidr": "300.0.0.0/8"}]}, "FilterPolicy: Nonstandard IP address: 300.0.0.0"),
])
def test_sns_limits(policy, text):
    with pytest.raises(ClientError) as e:
        F.parse_policy(json.dumps(policy), F.MESSAGE_ATTRIBUTES, subscribe=False)
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    assert e.value.response["Error"]["Message"] == "Invalid parameter: " + text
    with pytest.raises(ClientError) as e:
        F.parse_policy(json.dumps(policy), F.MESSAGE_ATTRIBUTES, subscribe=True)
    assert e.value.response["Error"]["Message"] == "Invalid parameter: Attributes Reason: " + text


@pytest.mark.parametrize("text,reason", [
    # recorded from AWS
    ("{invalidjson}", "Unexpected character ('i' (code 105)): was expecting double-quote to start field name\n "
                      "at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, "
                      "column: 2]"),
    ("invalid-json", "Unrecognized token 'invalid': was expecting (JSON String, Number, Array, Object or token "
                     "'null', 'true' or 'false')\n at [Source: REDACTED "
                     "(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 8]"),
    # Jackson's wording for other faults, line and column counted on the text as given
    ('{\n  "a": [1,]\n}', "Unexpected character (']' (code 93)): expected a value\n at [Source: REDACTED "
                          "(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 2, column: 11]"),
    ('{"a": NaN}', "Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow\n at "
                   "[Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 10]"),
])
def test_parse_errors_are_jacksons(text, reason):
    with pytest.raises(ClientError) as e:
        F.parse_policy(text, F.MESSAGE_ATTRIBUTES, subscribe=True)
    assert e.value.response["Error"]["Message"] == f"Invalid parameter: Attributes Reason: FilterPolicy: failed to " \
                                                   f"parse JSON. {reason}"


@pytest.mark.parametrize("depth", [5_000, 1_001])
def test_deep_policies_are_refused_not_crashed(depth):
    nested_arrays = '{"a":' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ClientError) as e:
        F.parse_policy(nested_arrays, F.MESSAGE_BODY, subscribe=False)
    assert "Document nesting depth" in e.value.response["Error"]["Message"]
    nested_objects = '{"a":' * 900 + '["x"]' + "}" * 900   # within the parser's depth, far past 150 combinations
    with pytest.raises(ClientError) as e:
        F.parse_policy(nested_objects, F.MESSAGE_BODY, subscribe=False)
    assert e.value.response["Error"]["Message"] == "Invalid parameter: FilterPolicy: Filter policy is too complex"
    with pytest.raises(ClientError) as e:
        F.parse_policy(nested_objects, F.MESSAGE_ATTRIBUTES, subscribe=False)
    assert e.value.response["Error"]["Message"] == ("Invalid parameter: Filter policy scope MessageAttributes does "
                                                    "not support nested filter policy")


def test_numbers_match_to_five_decimal_places():
    # AWS: "five digits of accuracy after the decimal point"; +-10^9 at most
    def number(policy, text):
        return matcher({"p": policy})(F.attribute_values({"p": ("Number", text)}))
    assert number([{"numeric": ["=", 1.5]}], "1.500001")
    assert not number([{"numeric": ["=", 1.5]}], "1.50001")
    assert not number([{"numeric": [">", 0]}], "0.000001") and number([{"numeric": [">", 0]}], "0.00001")
    assert number([0.1], "0.1") and number([0.1], "1e-1") and number([{"numeric": ["<=", 1e9]}], "1E9")
    assert not number([{"numeric": [">", 0]}], "1e10")   # out of range: no numeric condition matches
    assert on_body({"p": [{"numeric": ["=", 0.3]}]}, {"p": 0.1 + 0.2})


def test_a_policy_with_null_matches_as_aws():
    # recorded from AWS: a publish without the attribute is not delivered to this policy
    p = {"attr1": [None, {"anything-but": "whatever"}]}
    assert not on_attrs(p) and not on_attrs(p, other="x")
    assert on_attrs(p, attr1="something") and not on_attrs(p, attr1="whatever")
    assert on_body(p, {"attr1": None}) and not on_body(p, {"other": 1})


def test_combination_counting_follows_aws_examples():
    # AWS: 4 values at depth 3 and 3 values at depth 2 -> 4*3 * 3*2 = 72 combinations, accepted
    ok = {"a": {"b": {"c": ["1", "2", "3", "4"]}}, "d": {"e": ["1", "2", "3"]}}
    F.parse_policy(json.dumps(ok), F.MESSAGE_BODY, subscribe=False)
    too_many = {**ok, "f": ["1", "2", "3"]}  # x3 = 216
    with pytest.raises(ClientError):
        F.parse_policy(json.dumps(too_many), F.MESSAGE_BODY, subscribe=False)
    F.parse_policy(json.dumps({"a": ["v"] * 150}), F.MESSAGE_ATTRIBUTES, subscribe=False)


def test_empty_policy_means_no_filter():
    assert F.parse_policy("", F.MESSAGE_ATTRIBUTES, subscribe=False) is None
    assert F.parse_policy("{}", F.MESSAGE_ATTRIBUTES, subscribe=False) is None


# --- property tests against a reference interpreter ---------------------------------------------------
def reference(policy, values):
    """The documented semantics, interpreted directly (slow, obviously right)."""
    for key, conds in policy.items():
        present = key in values
        vals = values.get(key, ())
        ok = False
        for c in conds:
            if not isinstance(c, dict):
                ok = present and any(type(v) is type(F.scalar(c)) and v == F.scalar(c) for v in vals)
            elif "exists" in c:
                ok = present == c["exists"]
            elif "prefix" in c:
                ok = any(isinstance(v, str) and v.startswith(c["prefix"]) for v in vals)
            elif "anything-but" in c:
                excl = c["anything-but"] if isinstance(c["anything-but"], list) else [c["anything-but"]]
                excl = [F.scalar(x) for x in excl]
                ok = present and not any(v == x and type(v) is type(x) for v in vals for x in excl)
            elif "numeric" in c:
                ops = c["numeric"]
                def cmp(v, op, n):
                    return {"<": v < n, "<=": v <= n, "=": v == n, ">": v > n, ">=": v >= n}[op]
                ok = any(type(v) is int and all(cmp(v, ops[i], F.number(ops[i + 1])) for i in range(0, len(ops), 2))
                         for v in vals)
            if ok:
                break
        if not ok:
            return False
    return True


words = st.sampled_from(["a", "b", "ab", "ba", "abc"])
numbers = st.integers(-5, 5)
conditions = st.one_of(
    words, numbers,
    st.builds(lambda w: {"prefix": w}, words),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda ws: {"anything-but": ws}, st.one_of(st.lists(words, min_size=1, max_size=3),
                                                         st.lists(numbers, min_size=1, max_size=3))),
    st.builds(lambda op, n: {"numeric": [op, n]}, st.sampled_from(["<", "<=", "=", ">", ">="]), numbers),
    st.builds(lambda lo, d: {"numeric": [">=", lo, "<", lo + d]}, numbers, st.integers(1, 4)),
)
policies = st.dictionaries(st.sampled_from(["x", "y", "z"]), st.lists(conditions, min_size=1, max_size=3),
                           min_size=1, max_size=3)
messages = st.dictionaries(st.sampled_from(["x", "y", "z", "w"]),
                           st.one_of(words, numbers, st.lists(st.one_of(words, numbers), min_size=1, max_size=3)),
                           max_size=4)


@settings(max_examples=400, deadline=None)
@given(policies, messages)
def test_compiled_matches_reference(policy, message):
    values = attrs(**message)
    assert matcher(policy)(values) == reference(policy, values)


@settings(max_examples=200, deadline=None)
@given(policies, messages)
def test_body_and_attribute_scopes_agree_on_flat_documents(policy, message):
    body = {k: v for k, v in message.items()}
    assert on_body(policy, body) == on_attrs(policy, **message)


# --- end to end through the client ------------------------------------------------------------------------
@pytest.fixture
def topic(sns):
    return sns.create_topic(Name="filtered")["TopicArn"]


def test_attribute_scope_end_to_end(sns, topic, make_queue, receive):
    queues = {}
    policies = {
        "exact": {"color": ["red"]},
        "prefix": {"color": [{"prefix": "bl"}]},
        "numeric": {"size": [{"numeric": [">", 10, "<=", 20]}]},
        "anything_but": {"color": [{"anything-but": ["red", "blue"]}]},
        "missing": {"color": [{"exists": False}]},
        "or": {"$or": [{"color": ["red"]}, {"size": [{"numeric": ["=", 5]}]}]},
    }
    for name, policy in policies.items():
        url, qarn = make_queue(name)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"FilterPolicy": json.dumps(policy)})
        queues[name] = url
    sent = [("red", 5), ("blue", 15), ("green", 12), (None, 5), ("black", 30)]
    for color, size in sent:
        ma = {"size": {"DataType": "Number", "StringValue": str(size)}}
        if color:
            ma["color"] = {"DataType": "String", "StringValue": color}
        sns.publish(TopicArn=topic, Message=f"{color}-{size}", MessageAttributes=ma)

    def got(name):
        return sorted(json.loads(m["Body"])["Message"] for m in receive(queues[name]))

    assert got("exact") == ["red-5"]
    assert got("prefix") == ["black-30", "blue-15"]
    assert got("numeric") == ["blue-15", "green-12"]
    assert got("anything_but") == ["black-30", "green-12"]
    assert got("missing") == ["None-5"]
    assert got("or") == ["None-5", "red-5"]


def test_body_scope_end_to_end_and_scope_switch(sns, topic, make_queue, receive):
    url, qarn = make_queue("body")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"order": {"status": ["paid"], "total": [{"numeric": [">=", 100]}]}})})[
        "SubscriptionArn"]
    for status, total in [("paid", 150), ("paid", 50), ("open", 500)]:
        sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": status, "total": total}}))
    sns.publish(TopicArn=topic, Message="not json at all")
    assert [json.loads(json.loads(m["Body"])["Message"])["order"]["total"] for m in receive(url)] == [150]
    # a nested policy cannot move to the attributes scope
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                        AttributeValue="MessageAttributes")
    assert e.value.response["Error"]["Message"] == ("Invalid parameter: Filter policy scope MessageAttributes does "
                                                    "not support nested filter policy")
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"kind": ["a"]}))
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                    AttributeValue="MessageAttributes")
    sns.publish(TopicArn=topic, Message="x", MessageAttributes={"kind": {"DataType": "String", "StringValue": "a"}})
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "a"}))
    assert [json.loads(m["Body"])["Message"] for m in receive(url)] == ["x"]


def test_body_scope_uses_the_protocol_message_of_a_structured_publish(sns, topic, make_queue, receive):
    url, qarn = make_queue("q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={
        "FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps({"to": ["sqs"]})})
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": json.dumps({"to": "all"}), "sqs": json.dumps({"to": "sqs"})}))
    assert len(receive(url)) == 1


def test_filter_policy_quota_per_topic(sns, topic, make_queue, backend):
    from engine import limits
    policy = json.dumps({"k": ["v"]})
    t = backend.topics[topic]
    for i in range(limits.SNS_FILTER_POLICIES_PER_TOPIC_MAX):
        backend.subscribe(topic, "sqs", f"arn:aws:sqs:us-east-1:000000000000:q{i}", {"FilterPolicy": policy})
    assert len(t.subscriptions) == limits.SNS_FILTER_POLICIES_PER_TOPIC_MAX
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:extra",
                      Attributes={"FilterPolicy": policy})
    assert e.value.response["Error"]["Code"] == "FilterPolicyLimitExceeded"
