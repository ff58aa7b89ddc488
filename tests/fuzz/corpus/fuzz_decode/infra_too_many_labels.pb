
node-1cpu_utilisation_ratioáz®GáÚ? €È˜¬Ó1*

dcwest*
l0v*
l1v*
l2v*
l3v*
l4v*
l5v*
l6v*
l7v*
l8v*
rolebroker